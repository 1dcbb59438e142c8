"""Realistic webhook mixes for the benchmarks, built from the test suite's captured payloads."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.payloads import order


@dataclass(frozen=True)
class Webhook:
    form: str
    unique: bool  # False for a deliberate duplicate of an earlier webhook


def _form(body: dict[str, Any], recipient: str, event_type: str, group: int) -> str:
    return urlencode(
        {
            "order_group_id": str(group),
            "recipient": recipient,
            "event_type": event_type,
            "body": json.dumps(body),
        }
    )


def _stamp(base: datetime, seconds: int) -> str:
    return (base + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def office_sales(count: int, first_id: int = 20_000_000) -> list[Webhook]:
    """`seller.order_created` for TEvo (office 6) buying: the most common webhook."""
    return [
        Webhook(_form(order(id=first_id + i), "seller", "order_created", 5_000_000 + i), True)
        for i in range(count)
    ]


def mixed(count: int, seed: int = 7, first_id: int = 30_000_000) -> list[Webhook]:
    """About `count` webhooks: Office sales, Client sales waiting for fraud approval and then
    approved, purchases accepted then shipped, and ~5% duplicates (TEvo retries)."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable workload, not a secret
    base = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    hooks: list[Webhook] = []
    order_id = first_id
    while len(hooks) < count:
        order_id += 1
        group = order_id - first_id + 6_000_000
        kind = rng.random()
        if kind < 0.55:
            hooks.append(Webhook(_form(order(id=order_id), "seller", "order_created", group), True))
        elif kind < 0.80:
            client = order("order_client", id=order_id, updated_at=_stamp(base, 1))
            client["client"]["id"] = 4_000_000 + rng.randrange(2_000)
            client["buyer"]["id"] = client["client"]["id"]
            client["client"]["email_addresses"][0]["address"] = (
                f"c{client['client']['id']}@example.com"
            )
            hooks.append(Webhook(_form(client, "seller", "order_created", group), True))
            approved = {**client, "fraud_check_status": "approved", "updated_at": _stamp(base, 60)}
            hooks.append(Webhook(_form(approved, "seller", "fraud_response_received", group), True))
        else:
            purchase = order(id=order_id, state="accepted", updated_at=_stamp(base, 1))
            hooks.append(Webhook(_form(purchase, "buyer", "order_accepted", group), True))
            shipped = {**purchase, "updated_at": _stamp(base, 3600)}
            hooks.append(Webhook(_form(shipped, "buyer", "delivery_shipped", group), True))
        if rng.random() < 0.05:
            hooks.append(Webhook(hooks[-1].form, False))
    return hooks[:count]
