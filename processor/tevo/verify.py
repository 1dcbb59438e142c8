"""Trust but verify: compare a webhook's order with TEvo's own answer before acting on it.

Webhooks are unsigned, so anyone who learns the URL can post one. Before a sale is invoiced (or
a purchase order created) its order is fetched from TEvo's API and compared on what the POS acts
on: the buyer, the fraud check, the items and the total. A difference makes a verdict with a
reason a person reads in `pos.sales.review_reason`; the reason names fields, never their values,
which may be a buyer's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import structlog
from pydantic import ValidationError

from contracts import Order
from processor.deps import Deps, OrdersApi
from processor.errors import UpstreamUnavailable

log = structlog.get_logger("processor.tevo.verify")

APPROVED = "approved"


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
    # The status moves on after the webhook (pending, then approved), so only a claim the API
    # does not back is a difference: a webhook saying "approved" that TEvo does not say.
    return webhook.fraud_check_status != APPROVED or tevo.fraud_check_status == APPROVED


_CHECKS: tuple[tuple[str, Callable[[Order, Order], bool]], ...] = (
    ("buyer.type", lambda w, t: _buyer_type(w) == _buyer_type(t)),
    ("buyer.id", lambda w, t: _buyer_id(w) == _buyer_id(t)),
    ("fraud_check_status", _fraud_check_agrees),
    ("items", lambda w, t: _items(w) == _items(t)),
    ("total", lambda w, t: w.total == t.total),
)


def compare(webhook: Order, tevo: Order) -> Verdict:
    """The verdict on a webhook's order given TEvo's answer for the same id."""
    differences = tuple(name for name, agrees in _CHECKS if not agrees(webhook, tevo))
    if not differences:
        return OK
    fields = ", ".join(differences)
    return Verdict(differences, f"webhook differs from TEvo's order {webhook.id} in: {fields}")


async def verify_order(api: OrdersApi, order: Order) -> Verdict:
    """Fetch `GET /orders/{id}` and compare; an order TEvo does not know is a mismatch.

    Raises `UpstreamUnavailable` (retryable) when TEvo cannot answer, and
    `UpstreamUnauthorized` when it refuses our credentials: the message waits, nothing is lost.
    """
    found = await api.get_order(order.id)
    if found is None:
        return Verdict(("id",), f"TEvo has no order {order.id}")
    try:
        tevo = Order.model_validate(found)
    except ValidationError:
        raise UpstreamUnavailable(f"TEvo API's order {order.id} is not an order") from None
    return compare(order, tevo)


async def check_before_invoicing(deps: Deps, order: Order) -> str | None:
    """None when the order may be invoiced (or verification is off); else why not.

    The sales rules call this just before an invoice or purchase order is created, and on a
    reason set the sale to `needs_review` with it as `review_reason`. Raises a `Retryable`
    when TEvo's API cannot answer, so the message comes back later.
    """
    if deps.tevo_api is None:
        return None
    verdict = await verify_order(deps.tevo_api, order)
    if verdict.ok:
        log.info("verify.matched", tevo_order_id=order.id)
        return None
    log.warning("verify.mismatch", tevo_order_id=order.id, differences=list(verdict.differences))
    return verdict.reason
