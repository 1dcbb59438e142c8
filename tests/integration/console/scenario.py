"""The orders the console's browser test looks at, sent as TEvo sends them.

- OFFICE: an Office sale, amended by a later body (a new price and total).
- CLIENT: a Client sale that waited for Riskified, then was approved.
- HELD: a sale to a Brokerage, held for a person (the review item).
- BROKEN: a webhook of OFFICE's group whose total is not a number: dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.payloads import form, order

OFFICE, CLIENT, HELD = 10324712, 10324800, 10324950
OFFICE_GROUP, CLIENT_GROUP, HELD_GROUP = 4606857, 4606901, 4606950
CLIENT_EMAIL = "Jordan.Avery@example.com"

Post = Callable[[str], Awaitable[Any]]


def amended_office() -> dict[str, Any]:
    body = order("order_office_delivery_updated")
    body["items"][0]["price"] = "300.00"
    body["subtotal"], body["total"] = "600.00", "636.60"
    return body


def webhooks() -> list[str]:
    """The forms, in the order they are posted."""
    broken = order("order_office", total="not-a-number", updated_at="2026-11-24T08:00:00Z")
    return [
        form(order("order_office"), order_group_id=OFFICE_GROUP),
        form(amended_office(), event_type="delivery_updated", order_group_id=OFFICE_GROUP),
        form(order("order_client"), order_group_id=CLIENT_GROUP),
        form(
            order("order_client_approved"),
            event_type="fraud_response_received",
            order_group_id=CLIENT_GROUP,
        ),
        form(order("order_brokerage", id=HELD), order_group_id=HELD_GROUP),
        form(broken, event_type="airbill_uploaded", order_group_id=OFFICE_GROUP),
    ]


async def send_all(post: Post) -> None:
    for body in webhooks():
        await post(body)
