"""TEvo's sales rules as pure functions: what a sale becomes, given what its webhooks said.

Every seller webhook carries the whole order, so each one is applied the same way: merge it into
what the sale already knows (`merge`), then decide the status from the merged facts (`decide`).
The merge is order-independent by construction:

- the order body with the greatest (`updated_at`, fraud rank, SHA-256 of the body) wins: state,
  amounts, buyer and delivery state follow it;
- the fraud status with the greatest (is a decision, `updated_at`, rank) wins, rank being
  declined > approved > pending > null: a stale message, or a `pending` after a decision, never
  moves a sale backwards;
- "seen approved", "seen declined" and "canceled" only ever turn on;
- an invoice, once made, stays (voided if the order is canceled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from contracts import Order


class Status(StrEnum):
    AWAITING_FRAUD_CHECK = "awaiting_fraud_check"
    INVOICED = "invoiced"
    FRAUD_DECLINED = "fraud_declined"
    NEEDS_REVIEW = "needs_review"
    CANCELED = "canceled"


OFFICE, CLIENT = "Office", "Client"
APPROVED, DECLINED, PENDING = "approved", "declined", "pending"
FRAUD_RANK: dict[str | None, int] = {None: 0, PENDING: 1, APPROVED: 2, DECLINED: 3}
CANCELED_STATES = frozenset({"canceled", "canceled_open", "canceled_post_acceptance", "rejected"})
NEVER = datetime.min.replace(tzinfo=UTC)

# Review reasons, in the order they are listed when several apply.
DECLINED_AFTER_INVOICE = "fraud declined after invoicing"
CONFLICTING_FRAUD = "conflicting fraud decisions"
AMOUNTS_CHANGED = "amounts changed after invoicing"


@dataclass(frozen=True)
class Fraud:
    """A fraud status and the `updated_at` of the body it came from."""

    status: str | None
    at: datetime | None

    def key(self) -> tuple[bool, datetime, int]:
        return (
            self.status in (APPROVED, DECLINED),
            self.at or NEVER,
            FRAUD_RANK.get(self.status, 0),
        )


@dataclass(frozen=True)
class Known:
    """A stored sale: its newest body and what earlier webhooks established."""

    order: Order
    digest: str
    status: Status
    fraud: Fraud
    approved_seen: bool
    declined_seen: bool
    invoice_total: Decimal | None  # None: no invoice
    invoice_voided: bool


@dataclass(frozen=True)
class Facts:
    """Everything known about a sale after merging one more webhook."""

    order: Order  # the newest body
    digest: str
    body_is_newest: bool  # the incoming body replaced the stored one
    fraud: Fraud
    approved_seen: bool
    declined_seen: bool
    canceled: bool
    invoice_total: Decimal | None
    invoice_voided: bool


@dataclass(frozen=True)
class Outcome:
    status: Status
    invoice_now: bool
    void_now: bool
    review_reason: str | None


def cancel_reason(order: Order, cancels: str | None) -> str | None:
    """Why this webhook cancels the sale: its event says so, or its order's state does."""
    if cancels is not None:
        return cancels
    state = order.normalized_state
    return f"order {state}" if state in CANCELED_STATES else None


def merge(known: Known | None, order: Order, digest: str, cancels: str | None) -> Facts:
    """`known` with one more body applied; `cancels` says why when the event itself cancels."""
    status = order.fraud_check_status
    incoming = Fraud(status, order.updated_at)
    canceled = cancel_reason(order, cancels) is not None
    if known is None:
        return Facts(
            order=order,
            digest=digest,
            body_is_newest=True,
            fraud=incoming,
            approved_seen=status == APPROVED,
            declined_seen=status == DECLINED,
            canceled=canceled,
            invoice_total=None,
            invoice_voided=False,
        )
    newest = _body_key(order, digest) > _body_key(known.order, known.digest)
    return Facts(
        order=order if newest else known.order,
        digest=digest if newest else known.digest,
        body_is_newest=newest,
        fraud=max(known.fraud, incoming, key=Fraud.key),
        approved_seen=known.approved_seen or status == APPROVED,
        declined_seen=known.declined_seen or status == DECLINED,
        canceled=canceled or known.status is Status.CANCELED,
        invoice_total=known.invoice_total,
        invoice_voided=known.invoice_voided,
    )


def _body_key(order: Order, digest: str) -> tuple[datetime, int, str]:
    return (order.updated_at or NEVER, FRAUD_RANK.get(order.fraud_check_status, 0), digest)


def decide(facts: Facts, has_customer: bool, riskified: bool) -> Outcome:
    """The sale's status, whether to invoice or void now, and why a person should look."""
    invoiced = facts.invoice_total is not None
    if facts.canceled:
        status = Status.CANCELED
    elif invoiced:
        status = Status.INVOICED  # one-way: nothing after an invoice makes a second one
    else:
        status = _status_before_invoice(facts, has_customer, riskified)
    return Outcome(
        status=status,
        invoice_now=status is Status.INVOICED and not invoiced,
        void_now=status is Status.CANCELED and invoiced and not facts.invoice_voided,
        review_reason=review_reason(facts, status, has_customer, riskified),
    )


def _status_before_invoice(facts: Facts, has_customer: bool, riskified: bool) -> Status:
    buyer_type = facts.order.buyer.type if facts.order.buyer else None
    if buyer_type == CLIENT and riskified:
        if facts.fraud.status == DECLINED:
            return Status.FRAUD_DECLINED
        if facts.fraud.status != APPROVED:
            return Status.AWAITING_FRAUD_CHECK
    if buyer_type not in (OFFICE, CLIENT) or not has_customer:
        return Status.NEEDS_REVIEW
    if invoice_problem(facts.order) is not None:
        return Status.NEEDS_REVIEW
    return Status.INVOICED


def invoice_problem(order: Order) -> str | None:
    """Why this body cannot become an invoice, or None when it can."""
    if order.total is None:
        return "order has no total"
    if not order.items:
        return "order has no items"
    if any(item.price is None or item.quantity is None for item in order.items):
        return "an item has no price or quantity"
    return None


def review_reason(facts: Facts, status: Status, has_customer: bool, riskified: bool) -> str | None:
    """Every reason a person should look at the sale, from the merged facts alone."""
    buyer = facts.order.buyer
    reasons = []
    if status is Status.NEEDS_REVIEW:
        reasons.append(_needs_review_reason(facts, has_customer))
    fraud_matters = riskified and buyer is not None and buyer.type == CLIENT
    # an invoice that stands: made earlier, not voided, and not about to be
    live = facts.invoice_total is not None and status is Status.INVOICED
    if fraud_matters and live and facts.fraud.status == DECLINED:
        reasons.append(DECLINED_AFTER_INVOICE)
    if fraud_matters and facts.approved_seen and facts.declined_seen:
        reasons.append(CONFLICTING_FRAUD)
    if live and facts.order.total != facts.invoice_total:
        reasons.append(AMOUNTS_CHANGED)
    return "; ".join(reasons) or None


def _needs_review_reason(facts: Facts, has_customer: bool) -> str:
    buyer_type = facts.order.buyer.type if facts.order.buyer else None
    if buyer_type not in (OFFICE, CLIENT):
        return f"no sales rule for buyer type {buyer_type!r}"
    if not has_customer:
        return "buyer has no id or e-mail to find a customer by"
    return invoice_problem(facts.order) or "cannot be invoiced"


def delivery_state(order: Order) -> str | None:
    """The order's delivery state: `delivery.state`, else the state of its newest shipment."""
    extra = order.model_extra or {}
    delivery = extra.get("delivery")
    if isinstance(delivery, dict) and isinstance(delivery.get("state"), str):
        return str(delivery["state"])
    shipments = [
        (str(shipment.get("updated_at") or ""), index, str(shipment["state"]))
        for index, shipment in enumerate(extra.get("shipments") or [])
        if isinstance(shipment, dict) and isinstance(shipment.get("state"), str)
    ]
    # ISO-8601 UTC timestamps sort as text; the later one in the list wins a tie
    return max(shipments)[2] if shipments else None
