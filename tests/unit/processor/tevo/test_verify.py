"""Verification verdicts: a true order passes, a forged one is named, and no PII is in reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts import Order, parse_order
from processor.errors import NeedsVerification, UpstreamUnavailable
from processor.handler import Deps
from processor.settings import ProcessorSettings
from processor.tevo.verify import check_before_invoicing, compare, verdict_on
from tests.payloads import order


def parsed(body: dict[str, Any]) -> Order:
    return parse_order(json.dumps(body))


class FakeApi:
    """TEvo's API as a dict of orders; `down` makes it fail like an outage."""

    def __init__(self, *orders: dict[str, Any]) -> None:
        self.orders = {int(o["id"]): o for o in orders}
        self.down = False
        self.calls = 0

    async def get_order(self, order_id: int) -> dict[str, Any] | None:
        self.calls += 1
        if self.down:
            raise UpstreamUnavailable("HTTP 503 after 3 attempt(s)")
        return self.orders.get(order_id)


def test_the_same_order_matches() -> None:
    for name in ("order_office", "order_client"):
        verdict = compare(parsed(order(name)), parsed(order(name)))
        assert verdict.ok
        assert verdict.reason is None


def test_formatting_and_item_order_are_not_differences() -> None:
    two_items = order(
        items=[
            {"id": 1, "price": "270.0", "quantity": 2, "ticket_group": {"id": 522337144}},
            {"id": 2, "price": "10", "quantity": 1, "ticket_group": {"id": 7}},
        ],
        total="561.6",
    )
    tevo = order(
        items=[
            {"id": 2, "price": 10.0, "quantity": "1", "ticket_group": {"id": "7"}},
            {"id": 1, "price": "270.00", "quantity": 2, "ticket_group": {"id": "522337144"}},
        ],
        total="561.60",
    )
    assert compare(parsed(two_items), parsed(tevo)).ok


@pytest.mark.parametrize(
    ("forged", "field"),
    [
        ({"total": "1.00"}, "total"),
        ({"buyer": {"id": 7, "type": "Office", "name": "Someone"}}, "buyer.id"),
        ({"buyer": {"id": 6, "type": "Client", "name": "Someone"}}, "buyer.type"),
        (
            {"items": [{"price": "270.0", "quantity": 4, "ticket_group": {"id": 522337144}}]},
            "items",
        ),
        (
            {"items": [{"price": "1.0", "quantity": 2, "ticket_group": {"id": 522337144}}]},
            "items",
        ),
        (
            {"items": [{"price": "270.0", "quantity": 2, "ticket_group": {"id": 1}}]},
            "items",
        ),
    ],
)
def test_a_forged_field_is_named(forged: dict[str, Any], field: str) -> None:
    verdict = compare(parsed(order(**forged)), parsed(order()))
    assert not verdict.ok
    assert verdict.differences == (field,)
    assert verdict.reason is not None
    assert field in verdict.reason


def test_every_differing_field_is_named() -> None:
    forged = order(total="1.00", buyer={"id": 9, "type": "Client"})
    verdict = compare(parsed(forged), parsed(order()))
    assert verdict.differences == ("buyer.type", "buyer.id", "total")


@pytest.mark.parametrize(("webhook", "tevo"), [("pending", "approved"), (None, "approved")])
def test_a_fraud_check_that_moved_on_since_the_webhook_is_no_difference(
    webhook: str | None, tevo: str
) -> None:
    client = "order_client"
    verdict = compare(
        parsed(order(client, fraud_check_status=webhook)),
        parsed(order(client, fraud_check_status=tevo)),
    )
    assert verdict.ok


def test_an_approval_tevo_does_not_back_is_a_difference() -> None:
    client = "order_client"
    verdict = compare(
        parsed(order(client, fraud_check_status="approved")),
        parsed(order(client, fraud_check_status="declined")),
    )
    assert verdict.differences == ("fraud_check_status",)


def test_reasons_carry_no_buyer_details() -> None:
    client = "order_client"
    forged = order(
        client, total="9999.00", buyer={"id": 1, "type": "Client", "name": "Eve Mallory"}
    )
    verdict = compare(parsed(forged), parsed(order(client)))
    assert verdict.reason is not None
    for secret in ("Eve", "Mallory", "Jordan", "Avery", "example.com", "9999", "369.15"):
        assert secret not in verdict.reason


async def test_an_order_tevo_does_not_know_is_a_mismatch() -> None:
    deps, failed = await Deps(ProcessorSettings(), tevo_api=FakeApi()).answered([10324712])
    assert not failed
    assert verdict_on(parsed(order()), deps.answers[10324712]).differences == ("id",)
    reason = await check_before_invoicing(deps, parsed(order()))
    assert reason == "TEvo has no order 10324712"


async def test_an_answer_that_is_not_an_order_is_retryable() -> None:
    api = FakeApi({"id": 10324712, "items": "many"})
    deps, _ = await Deps(ProcessorSettings(), tevo_api=api).answered([10324712])
    with pytest.raises(UpstreamUnavailable):
        await check_before_invoicing(deps, parsed(order()))


async def test_check_before_invoicing_is_a_no_op_without_an_api() -> None:
    assert await check_before_invoicing(Deps(ProcessorSettings()), parsed(order())) is None


async def test_check_before_invoicing_asks_for_the_answer_it_does_not_have() -> None:
    # inside a transaction it never calls TEvo: the caller fetches the answer outside
    api = FakeApi(order())
    deps = Deps(ProcessorSettings(), tevo_api=api)
    with pytest.raises(NeedsVerification) as raised:
        await check_before_invoicing(deps, parsed(order()))
    assert raised.value.order_id == 10324712
    assert api.calls == 0


async def test_check_before_invoicing_passes_a_true_order_and_flags_a_forged_one() -> None:
    api = FakeApi(order())
    deps = Deps(ProcessorSettings(), tevo_api=api)
    deps, failed = await deps.answered([10324712, 10324712])
    assert not failed
    assert api.calls == 1
    assert await check_before_invoicing(deps, parsed(order())) is None
    reason = await check_before_invoicing(deps, parsed(order(total="1.00")))
    assert reason == "webhook differs from TEvo's order 10324712 in: total"


async def test_an_order_tevo_cannot_answer_for_is_an_error_of_its_own() -> None:
    api = FakeApi(order())
    api.down = True
    deps, failed = await Deps(ProcessorSettings(), tevo_api=api).answered([10324712])
    assert deps.answers == {}
    assert isinstance(failed[10324712], UpstreamUnavailable)
