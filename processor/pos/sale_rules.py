"""TEvo's sales rules as pure functions: a sale is a function of the set of bodies it received.

`settle` puts the bodies (`Version`s: webhooks, and TEvo's own copies) in TEvo's timeline order
(`Version.key`) and walks it once. A step is *invoiceable* when its body can be invoiced and,
for a Client under Riskified, the newest fraud decision up to it is `approved`; the invoice
carries the last invoiceable step's body. The POS cannot unmake an invoice, so whether one
exists only grows with the set. The status: `canceled` if any version cancels, `fraud_declined`
if the newest decision declined, `invoiced` if a step was invoiceable, else held with a reason.
The order the versions arrived in decides nothing (README, "Sales rules").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from contracts import CANCELED_STATES, CLIENT, OFFICE, REJECTED, FraudCheck, Order


class Status(StrEnum):
    AWAITING_FRAUD_CHECK = "awaiting_fraud_check"
    INVOICED = "invoiced"
    FRAUD_DECLINED = "fraud_declined"
    NEEDS_REVIEW = "needs_review"
    CANCELED = "canceled"


APPROVED, DECLINED, PENDING = FraudCheck.APPROVED, FraudCheck.DECLINED, FraudCheck.PENDING
FRAUD_RANK: dict[str | None, int] = {None: 0, PENDING: 1, APPROVED: 2, DECLINED: 3}
ENDING_STATES = CANCELED_STATES | {REJECTED}  # a sale treats a rejection as a cancel
NEVER = datetime.min.replace(tzinfo=UTC)

# Review reasons; FRAUD_WAIT_EXCEEDED always comes last (the watch appends it, see ops.review).
CONFLICTING_FRAUD = "conflicting fraud decisions"
NO_FRAUD_STATUS = "waiting for Riskified: the order has no fraud_check_status"
FUTURE_TIMESTAMP = "a body's updated_at lies in the future: it ranks as undated"
FRAUD_WAIT_EXCEEDED = "waited longer than TEVO_FRAUD_WAIT_LIMIT for a fraud decision"


def cancel_reason(order: Order, cancels: str | None) -> str | None:
    """Why this body cancels the sale: its event says so, or its order's state does."""
    if cancels is not None:
        return cancels
    state = order.normalized_state
    return f"order {state}" if state in ENDING_STATES else None


def buyer_type(order: Order) -> str | None:
    return order.buyer.type if order.buyer else None


@dataclass(frozen=True)
class Version:
    """One body the sale received, as the timeline sees it."""

    order: Order
    digest: str
    event_type: str
    ranked_at: datetime | None
    cancels: str | None = None
    trusted: bool = False  # TEvo's own copy, from its API
    verified: bool = False  # a webhook TEvo's API confirmed
    disputed: str | None = None  # why TEvo's API contradicted it: it no longer counts
    raw: str = field(default="", compare=False, repr=False)  # the JSON text as received

    def key(self) -> tuple[datetime, bool, int, str, str]:
        fraud = FRAUD_RANK.get(self.order.fraud_check_status, 0)
        return (self.ranked_at or NEVER, self.trusted, fraud, self.digest, self.event_type)

    @property
    def decision(self) -> str | None:
        status = self.order.fraud_check_status
        return status if status in (APPROVED, DECLINED) else None

    @property
    def future(self) -> bool:
        return self.order.updated_at is not None and self.ranked_at is None


@dataclass(frozen=True)
class Context:
    """What the rules need besides the versions."""

    riskified: bool
    has_customer: bool
    operator_invoice: bool = False  # a person resolved the sale with `--invoice`
    waited_too_long: bool = False  # awaiting a decision for longer than TEVO_FRAUD_WAIT_LIMIT


@dataclass(frozen=True)
class Target:
    """What the sale is, given its versions: the POS is brought to exactly this."""

    status: Status
    newest: Version  # the sale shows its body
    fraud_status: str | None
    fraud_at: datetime | None
    approved_seen: bool
    declined_seen: bool
    invoice: Version | None  # the body the invoice carries; None: never invoiced
    void_reason: str | None  # the invoice exists but does not stand
    review_reason: str | None
    approval: Version | None = None  # the approval a Client's standing invoice rests on

    @property
    def invoice_live(self) -> bool:
        return self.invoice is not None and self.status is Status.INVOICED


def settle(versions: Sequence[Version], ctx: Context) -> Target:
    """The sale's state from every version it received; at least one is required."""
    active = sorted((v for v in versions if v.disputed is None), key=Version.key)
    disputes = sorted({v.disputed for v in versions if v.disputed is not None})
    if not active:  # only bodies TEvo contradicted: nothing to go by but a person
        newest = max(versions, key=Version.key)
        reason = "; ".join(f"not confirmed by TEvo: {d}" for d in disputes)
        order = newest.order
        return Target(Status.NEEDS_REVIEW, newest, order.fraud_check_status, newest.ranked_at,
                      False, False, None, None, reason)  # fmt: skip
    return _settled(active, disputes, ctx)


def _settled(active: list[Version], disputes: list[str], ctx: Context) -> Target:
    decision, stood = None, None  # the newest decision so far; the last invoiceable step
    for version in active:
        if version.decision is not None:
            decision = version
        if _invoiceable(version, None if decision is None else decision.decision == APPROVED, ctx):
            stood = version
    newest = active[-1]
    status = _status(active, decision, stood, ctx)
    # An invoice, once made, cannot be unmade, so whether one exists must only ever grow with
    # the set: a decline or a cancel landing between an approval and a later body takes the
    # invoiceable step away, not the invoice an earlier, smaller set made.
    invoiced = stood or _any_invoiceable(active, ctx)
    if disputes and status in (Status.AWAITING_FRAUD_CHECK, Status.NEEDS_REVIEW):
        status = Status.NEEDS_REVIEW
    fraud = decision or newest
    rests_on = ctx.riskified and buyer_type(newest.order) == CLIENT and status is Status.INVOICED
    return Target(
        status=status,
        newest=newest,
        fraud_status=fraud.order.fraud_check_status,
        fraud_at=fraud.ranked_at,
        approved_seen=any(v.decision == APPROVED for v in active),
        declined_seen=any(v.decision == DECLINED for v in active),
        invoice=invoiced,
        void_reason=_void_reason(active, status, invoiced),
        review_reason=_review_reason(active, status, stood, disputes, ctx),
        approval=decision if rests_on and decision is not None else None,
    )


def _invoiceable(version: Version, approved: bool | None, ctx: Context) -> bool:
    """Whether the body could be invoiced, given the deciding approval (None: no decision)."""
    order = version.order
    if cancel_reason(order, version.cancels) or not ctx.has_customer or invoice_problem(order):
        return False
    buyer = buyer_type(order)
    if buyer == OFFICE or (buyer == CLIENT and not ctx.riskified):
        return True
    if buyer == CLIENT and approved is not None:
        return approved
    return ctx.operator_invoice


def _any_invoiceable(active: list[Version], ctx: Context) -> Version | None:
    """The newest body that could be invoiced on some approval in the set, whatever its time."""
    approved = True if any(v.decision == APPROVED for v in active) else None
    return next((v for v in reversed(active) if _invoiceable(v, approved, ctx)), None)


def _status(
    active: list[Version], decision: Version | None, stood: Version | None, ctx: Context
) -> Status:
    newest = active[-1]
    if any(cancel_reason(v.order, v.cancels) for v in active):
        return Status.CANCELED
    fraud_matters = ctx.riskified and buyer_type(newest.order) == CLIENT
    if fraud_matters and decision is not None and decision.decision == DECLINED:
        return Status.FRAUD_DECLINED
    if stood is not None:
        return Status.INVOICED
    if fraud_matters and decision is None and not ctx.operator_invoice:
        return Status.AWAITING_FRAUD_CHECK
    return Status.NEEDS_REVIEW


def _void_reason(active: list[Version], status: Status, invoiced: Version | None) -> str | None:
    if invoiced is None or status is Status.INVOICED:
        return None
    reasons = (cancel_reason(v.order, v.cancels) for v in active)
    return next((r for r in reasons if r), "fraud declined")


def invoice_problem(order: Order) -> str | None:
    """Why this body cannot become an invoice, or None when it can."""
    if order.total is None:
        return "order has no total"
    if not order.items:
        return "order has no items"
    if any(item.price is None or item.quantity is None for item in order.items):
        return "an item has no price or quantity"
    return None


def _review_reason(
    active: list[Version],
    status: Status,
    stood: Version | None,
    disputes: list[str],
    ctx: Context,
) -> str | None:
    """Every reason a person should look at the sale, in a fixed order."""
    newest = active[-1]
    reasons = []
    if status is Status.NEEDS_REVIEW:
        held = [f"not confirmed by TEvo: {d}" for d in disputes]
        held += [r for r in (_held_reason(newest.order, ctx),) if r]
        reasons += held or ["cannot be invoiced"]
    if status is Status.AWAITING_FRAUD_CHECK:
        reasons += [r for r in (_waiting_reason(newest.order),) if r]
    if ctx.riskified and buyer_type(newest.order) == CLIENT:
        decisions = {v.decision for v in active}
        if APPROVED in decisions and DECLINED in decisions:
            reasons.append(CONFLICTING_FRAUD)
    if status is Status.INVOICED and stood is not newest:
        why = _held_reason(newest.order, ctx) or "its buyer or fraud status changed"
        reasons.append(f"the newest order cannot be invoiced ({why}): the invoice keeps an older")
    if any(v.future for v in active):
        reasons.append(FUTURE_TIMESTAMP)
    if status is Status.AWAITING_FRAUD_CHECK and ctx.waited_too_long:
        reasons.append(FRAUD_WAIT_EXCEEDED)
    return "; ".join(reasons) or None


def _held_reason(order: Order, ctx: Context) -> str | None:
    buyer = buyer_type(order)
    if buyer not in (OFFICE, CLIENT) and not ctx.operator_invoice:
        return f"no sales rule for buyer type {buyer!r}"
    if not ctx.has_customer:
        return "buyer has no id or e-mail to find a customer by"
    return invoice_problem(order)


def _waiting_reason(order: Order) -> str | None:
    status = order.fraud_check_status
    if status is None:
        return NO_FRAUD_STATUS
    if status not in FRAUD_RANK:
        return f"waiting: fraud_check_status {status!r} is not a value TEvo documents"
    return None  # pending: Riskified is on it, the ordinary wait
