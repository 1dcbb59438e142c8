"""Bodies saying something odd where a number belongs: refused naming the field, not invoiced."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import pytest

from ingress.form import parse_form
from processor.errors import ContractViolation
from processor.handler import Inbound
from tests.integration.conftest import count
from tests.integration.sales.conftest import Seller
from tests.payloads import form, order

# (where in the captured Office order, the JSON text put there, the field the refusal names)
ODD = [
    ('"id": 10324712', '"id": true', "id"),
    ('"id": 10324712', '"id": "\uff11\uff10\uff13\uff12\uff14\uff17\uff11\uff12"', "id"),
    ('"quantity": 2', '"quantity": true', "items.0.quantity"),
    ('"total": "561.6"', '"total": 12345678901234567.89', "total"),
    ('"total": "561.6"', '"total": "1e309"', "total"),
    ('"total": "561.6"', '"total": "1_000.50"', "total"),
]


def _odd_body(anchor: str, odd: str) -> str:
    text = json.dumps(order("order_office"))
    assert anchor in text, anchor  # the fixture still holds what the case replaces
    return text.replace(anchor, odd, 1)


@pytest.mark.parametrize(("anchor", "odd", "field"), ODD)
async def test_an_odd_body_is_refused_naming_the_field_and_makes_no_invoice(
    seller: Seller, db: asyncpg.Connection, anchor: str, odd: str, field: str
) -> None:
    envelope = parse_form(form(_odd_body(anchor, odd)).encode())  # the ingress lets it through
    inbound = Inbound(
        message_id=envelope.message_id,
        recipient=envelope.recipient.value,
        event_type=envelope.event_type,
        body=envelope.body,
        order_group_id=envelope.order_group_id,
        received_at=datetime.now(UTC),
    )
    with pytest.raises(ContractViolation, match=rf"\b{field}: ") as refused:
        await seller.deliver(inbound)
    assert "must be" in str(refused.value)
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 0
    assert await count(db, "SELECT count(*) FROM pos.sales") == 0
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 0
