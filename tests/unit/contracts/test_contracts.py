"""contracts/: message ids, routing keys, the lenient order model and the public surface."""

from __future__ import annotations

import json
from decimal import Decimal
from types import ModuleType

import pytest

import contracts
from contracts import (
    DOCUMENTED_ROUTING_KEYS,
    BodyError,
    Recipient,
    Topology,
    WebhookEnvelope,
    message_id,
    parse_order,
    parse_order_item,
)
from tests.payloads import order


def test_message_id_is_deterministic_and_covers_every_part() -> None:
    body = json.dumps(order()).encode()
    first = message_id("seller", "order_created", 4606857, body)
    assert first == message_id("seller", "order_created", 4606857, body)
    others = {
        message_id("buyer", "order_created", 4606857, body),
        message_id("seller", "order_accepted", 4606857, body),
        message_id("seller", "order_created", 4606858, body),
        message_id("seller", "order_created", None, body),
        message_id("seller", "order_created", 4606857, body + b" "),
    }
    assert first not in others
    assert len(others) == 5


def test_envelope_routing_key_and_headers() -> None:
    envelope = WebhookEnvelope(
        recipient=Recipient.SELLER, event_type="order_created", body=b"{}", order_group_id=7
    )
    assert envelope.routing_key == "seller.order_created"
    assert envelope.message_id == message_id("seller", "order_created", 7, b"{}")


def test_documented_routing_keys_cover_both_sides_and_catalog() -> None:
    assert "seller.order_created" in DOCUMENTED_ROUTING_KEYS
    assert "buyer.etickets_finalized" in DOCUMENTED_ROUTING_KEYS
    assert "catalog.event_deleted" in DOCUMENTED_ROUTING_KEYS
    # delivery_updated goes to both sides
    assert {"seller.delivery_updated", "buyer.delivery_updated"} <= DOCUMENTED_ROUTING_KEYS


def test_order_parses_ids_as_strings_or_ints_and_money_exactly() -> None:
    body = order(id="10324712", total="561.6", tax=6.6)
    body["buyer"]["id"] = "6"
    parsed = parse_order(json.dumps(body))
    assert parsed.id == 10324712
    assert parsed.buyer is not None
    assert parsed.buyer.id == 6
    assert parsed.total == Decimal("561.6")
    assert parsed.tax == Decimal("6.6")  # a JSON float still lands exact
    assert parsed.items[0].price == Decimal("270.0")


def test_order_keeps_unknown_fields_and_spells_cancelled_one_way() -> None:
    parsed = parse_order(json.dumps(order(state="cancelled", brand_new_field={"x": 1})))
    assert parsed.normalized_state == "canceled"
    assert parsed.model_extra is not None
    assert parsed.model_extra["brand_new_field"] == {"x": 1}


def test_client_email_and_phone_come_from_the_first_non_blank_entry() -> None:
    parsed = parse_order(json.dumps(order("order_client")))
    assert parsed.client is not None
    assert parsed.client.email == "Jordan.Avery@example.com"
    assert parsed.client.phone == "555-0100"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[]", "body"),
        ('{"total": "1"}', "id"),
        ('{"id": "ten"}', "id"),
        ('{"id": 1, "total": "lots"}', "total"),
        ("not json", "body"),
    ],
)
def test_a_body_that_breaks_the_contract_names_the_field(body: str, field: str) -> None:
    with pytest.raises(BodyError) as raised:
        parse_order(body)
    assert raised.value.field == field


def test_order_item_for_etickets_finalized() -> None:
    item = parse_order_item('{"id": "5", "order_id": 10324712, "ticket_group": {"id": 9}}')
    assert item.order_id == 10324712
    assert item.ticket_group is not None
    assert item.ticket_group.id == 9


def test_topology_names_start_with_the_namespace() -> None:
    topology = Topology("prod")
    specs = [*topology.consumer_queues("seller.order_created", ("seller.order_created",))]
    specs += topology.delay_queues((1, 10))
    names = [s.name for s in specs] + [e.name for e in topology.processor_exchanges()]
    assert all(name.startswith("prod.") for name in names)
    queue = specs[1]
    assert queue.name == "prod.seller.order_created"
    assert queue.arguments["x-queue-type"] == "quorum"
    assert queue.arguments["x-dead-letter-routing-key"] == "prod.seller.order_created.dead"


def test_all_is_exactly_the_public_surface() -> None:
    public = {
        name
        for name, value in vars(contracts).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(contracts.__all__) == public


def test_a_timestamp_without_offset_is_taken_as_utc() -> None:
    # A naive and an aware datetime cannot be compared: the sales rules compare updated_at.
    naive = parse_order(json.dumps(order(updated_at="2026-11-20T18:31:10")))
    aware = parse_order(json.dumps(order(updated_at="2026-11-20T18:31:10Z")))
    assert naive.updated_at == aware.updated_at
    assert naive.updated_at is not None
    assert naive.updated_at.utcoffset() is not None
