"""Trust but verify: compare a webhook's order with TEvo's own answer before acting on it.

Webhooks are unsigned, so anyone who learns the URL can post one. Before a sale is invoiced (or
a purchase order created) its order is fetched from TEvo's API and compared on what the POS acts
on: the buyer, the fraud check (for a Client only: an Office's does not matter), the items and
the total. A difference makes a verdict with a
reason a person reads in `pos.sales.review_reason`; the reason names fields, never their values,
which may be a buyer's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from pydantic import ValidationError

from contracts import OFFICE, FraudCheck, Order
from processor.errors import NeedsVerification, UpstreamUnavailable
from processor.handler import Deps

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Verdict:
    """`ok`, or the names of the fields that differ and a sentence saying so."""

    differences: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


OK = Verdict()

ItemKey = tuple[int | None, int | None, Decimal | None]


def _buyer_type(order: Order) -> str | None:
    return order.buyer.type if order.buyer else None


def _buyer_id(order: Order) -> int | None:
    return order.buyer.id if order.buyer else None


def _items(order: Order) -> Counter[ItemKey]:
    # A multiset: TEvo may list items in another order, and "270.0" equals "270.00".
    return Counter(
        (item.ticket_group.id if item.ticket_group else None, item.quantity, item.price)
        for item in order.items
    )


def _fraud_check_agrees(webhook: Order, tevo: Order) -> bool:
    # For an Office buyer the fraud status does not matter (TEvo's rule), so it is no difference.
    if _buyer_type(tevo) == OFFICE:
        return True
    # The status moves on after the webhook (pending, then approved), so only a claim the API
    # does not back is a difference: a webhook saying "approved" that TEvo does not say.
    approved = FraudCheck.APPROVED
    return webhook.fraud_check_status != approved or tevo.fraud_check_status == approved


# What a fraud decision is checked on when the amounts are another body's to answer for.
DECISION_FIELDS = frozenset({"buyer.type", "buyer.id", "fraud_check_status"})
_CHECKS: tuple[tuple[str, Callable[[Order, Order], bool]], ...] = (
    ("buyer.type", lambda w, t: _buyer_type(w) == _buyer_type(t)),
    ("buyer.id", lambda w, t: _buyer_id(w) == _buyer_id(t)),
    ("fraud_check_status", _fraud_check_agrees),
    ("items", lambda w, t: _items(w) == _items(t)),
    ("total", lambda w, t: w.total == t.total),
)


def compare(webhook: Order, tevo: Order, *, decision_only: bool = False) -> Verdict:
    """The verdict on a webhook's order given TEvo's answer for the same id; `decision_only`
    compares the buyer and the fraud check alone."""
    checks = [(n, c) for n, c in _CHECKS if not decision_only or n in DECISION_FIELDS]
    differences = tuple(name for name, agrees in checks if not agrees(webhook, tevo))
    if not differences:
        return OK
    fields = ", ".join(differences)
    return Verdict(differences, f"webhook differs from TEvo's order {webhook.id} in: {fields}")


def verdict_on(
    order: Order, found: dict[str, Any] | None, *, decision_only: bool = False
) -> Verdict:
    """The verdict on `order` given TEvo's answer for its id (None: TEvo does not know it);
    `decision_only` compares the buyer and the fraud check alone."""
    if found is None:
        return Verdict(("id",), f"TEvo has no order {order.id}")
    try:
        tevo = Order.model_validate(found)
    except ValidationError:
        raise UpstreamUnavailable(f"TEvo API's order {order.id} is not an order") from None
    return compare(order, tevo, decision_only=decision_only)


async def check_before_invoicing(
    deps: Deps, order: Order, *, decision_only: bool = False
) -> str | None:
    """None when the order may be invoiced (or verification is off); else why not.

    The sales rules call this just before an invoice or purchase order is created, and on a
    reason set the sale to `needs_review` with it as `review_reason`. Without TEvo's answer for
    the order in `deps.answers` it raises `NeedsVerification`: the transaction rolls the message
    back, fetches the answer outside (`Deps.answered`), and applies the message again.
    """
    if deps.tevo_api is None:
        return None
    if order.id not in deps.answers:
        raise NeedsVerification(order.id)
    verdict = verdict_on(order, deps.answers[order.id], decision_only=decision_only)
    if verdict.ok:
        log.info("verify.matched", tevo_order_id=order.id)
        return None
    log.warning("verify.mismatch", tevo_order_id=order.id, differences=list(verdict.differences))
    return verdict.reason
