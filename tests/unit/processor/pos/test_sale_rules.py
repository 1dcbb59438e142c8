"""TEvo's sales rules as pure functions: merge what webhooks said, decide what the sale becomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import reduce
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import Order, parse_order
from processor.pos.sale_rules import (
    AMOUNTS_CHANGED,
    CONFLICTING_FRAUD,
    DECLINED_AFTER_INVOICE,
    Facts,
    Known,
    Status,
    decide,
    delivery_state,
    invoice_problem,
    merge,
)
from tests.payloads import order

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def body(name: str = "order_client", **changes: Any) -> Order:
    return parse_order(json.dumps(order(name, **changes)))


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def stored(facts: Facts, status: Status, invoiced: bool = False) -> Known:
    """What `facts` look like once saved, as the next webhook finds them."""
    return Known(
        order=facts.order,
        digest=facts.digest,
        status=status,
        fraud=facts.fraud,
        approved_seen=facts.approved_seen,
        declined_seen=facts.declined_seen,
        invoice_total=facts.order.total if invoiced else facts.invoice_total,
        invoice_voided=facts.invoice_voided,
    )


@pytest.mark.parametrize("fraud", [None, "pending", "approved", "declined"])
def test_office_is_invoiced_whatever_the_fraud_status(fraud: str | None) -> None:
    facts = merge(None, body("order_office", fraud_check_status=fraud), "d1", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert (outcome.status, outcome.invoice_now, outcome.review_reason) == (
        Status.INVOICED,
        True,
        None,
    )


@pytest.mark.parametrize(
    ("fraud", "status"),
    [
        ("approved", Status.INVOICED),
        ("pending", Status.AWAITING_FRAUD_CHECK),
        (None, Status.AWAITING_FRAUD_CHECK),
        ("declined", Status.FRAUD_DECLINED),
    ],
)
def test_client_with_riskified_waits_for_approval(fraud: str | None, status: Status) -> None:
    facts = merge(None, body(fraud_check_status=fraud), "d1", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert outcome.status is status
    assert outcome.invoice_now is (status is Status.INVOICED)


@pytest.mark.parametrize("fraud", [None, "pending", "declined"])
def test_client_without_riskified_is_invoiced_at_once(fraud: str | None) -> None:
    facts = merge(None, body(fraud_check_status=fraud), "d1", None)
    outcome = decide(facts, has_customer=True, riskified=False)
    assert (outcome.status, outcome.invoice_now) == (Status.INVOICED, True)


def test_other_buyer_types_need_review_and_say_why() -> None:
    facts = merge(None, body("order_brokerage"), "d1", None)
    outcome = decide(facts, has_customer=False, riskified=True)
    assert (outcome.status, outcome.invoice_now) == (Status.NEEDS_REVIEW, False)
    assert outcome.review_reason == "no sales rule for buyer type 'Brokerage'"


def test_client_that_cannot_be_found_or_created_needs_review() -> None:
    facts = merge(None, body(fraud_check_status="approved"), "d1", None)
    outcome = decide(facts, has_customer=False, riskified=True)
    assert outcome.status is Status.NEEDS_REVIEW
    assert outcome.review_reason == "buyer has no id or e-mail to find a customer by"


def test_an_order_without_total_is_not_invoiced() -> None:
    facts = merge(None, body("order_office", total=None), "d1", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert outcome.status is Status.NEEDS_REVIEW
    assert outcome.review_reason == "order has no total"
    assert invoice_problem(body("order_office", items=[])) == "order has no items"


def test_an_older_body_changes_neither_state_nor_amounts() -> None:
    newer = merge(None, body(updated_at=at(10), total="400.00"), "b", None)
    facts = merge(stored(newer, Status.AWAITING_FRAUD_CHECK), body(updated_at=at(5)), "a", None)
    assert not facts.body_is_newest
    assert facts.order.total == Decimal("400.00")


def test_a_pending_after_a_decision_never_moves_it_back() -> None:
    approved = merge(None, body(fraud_check_status="approved", updated_at=at(5)), "a", None)
    later = body(fraud_check_status="pending", updated_at=at(9))
    facts = merge(stored(approved, Status.INVOICED, invoiced=True), later, "b", None)
    assert facts.fraud.status == "approved"
    assert facts.body_is_newest  # the body itself is newer: its state and amounts apply


def test_on_equal_timestamps_declined_outranks_approved() -> None:
    approved = merge(None, body(fraud_check_status="approved", updated_at=at(5)), "a", None)
    declined = body(fraud_check_status="declined", updated_at=at(5))
    facts = merge(stored(approved, Status.INVOICED, invoiced=True), declined, "b", None)
    assert facts.fraud.status == "declined"


def test_a_decline_after_the_invoice_keeps_it_and_flags_the_sale() -> None:
    approved = merge(None, body(fraud_check_status="approved", updated_at=at(5)), "a", None)
    declined = body(fraud_check_status="declined", updated_at=at(8))
    facts = merge(stored(approved, Status.INVOICED, invoiced=True), declined, "b", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert (outcome.status, outcome.invoice_now) == (Status.INVOICED, False)
    assert outcome.review_reason == f"{DECLINED_AFTER_INVOICE}; {CONFLICTING_FRAUD}"


def test_a_newer_approval_after_a_decline_invoices_and_flags() -> None:
    declined = merge(None, body(fraud_check_status="declined", updated_at=at(5)), "a", None)
    approved = body(fraud_check_status="approved", updated_at=at(8))
    facts = merge(stored(declined, Status.FRAUD_DECLINED), approved, "b", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert (outcome.status, outcome.invoice_now) == (Status.INVOICED, True)
    assert outcome.review_reason == CONFLICTING_FRAUD


def test_amounts_changed_after_invoicing_are_flagged() -> None:
    first = merge(None, body("order_office", updated_at=at(1)), "a", None)
    changed = body("order_office", updated_at=at(9), total="600.0")
    facts = merge(stored(first, Status.INVOICED, invoiced=True), changed, "b", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert outcome.review_reason == AMOUNTS_CHANGED


@pytest.mark.parametrize(
    "state", ["canceled", "cancelled", "canceled_open", "canceled_post_acceptance", "rejected"]
)
def test_a_canceled_state_cancels_and_voids(state: str) -> None:
    first = merge(None, body("order_office", updated_at=at(1)), "a", None)
    canceled = body("order_office", updated_at=at(9), state=state)
    facts = merge(stored(first, Status.INVOICED, invoiced=True), canceled, "b", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert (outcome.status, outcome.invoice_now, outcome.void_now) == (Status.CANCELED, False, True)


def test_a_canceling_event_cancels_whatever_the_state_says() -> None:
    facts = merge(None, body("order_office", state="accepted"), "a", "order rejected")
    outcome = decide(facts, has_customer=True, riskified=True)
    assert (outcome.status, outcome.invoice_now) == (Status.CANCELED, False)


def test_canceled_is_terminal_for_invoicing() -> None:
    canceled = merge(None, body(state="canceled", updated_at=at(9)), "b", None)
    approved = body(fraud_check_status="approved", updated_at=at(3))
    facts = merge(stored(canceled, Status.CANCELED), approved, "a", None)
    outcome = decide(facts, has_customer=True, riskified=True)
    assert (outcome.status, outcome.invoice_now) == (Status.CANCELED, False)


def test_delivery_state_comes_from_delivery_or_the_newest_shipment() -> None:
    assert delivery_state(body("order_office_delivery_updated")) == "delivered"
    assert delivery_state(body("order_office", delivery={"state": "in_transit"})) == "in_transit"
    shipments = [
        {"state": "delivered", "updated_at": "2026-11-23T10:00:00Z"},
        {"state": "returned", "updated_at": "2026-11-22T10:00:00Z"},
    ]
    assert delivery_state(body("order_office", shipments=shipments)) == "delivered"
    assert delivery_state(body("order_office")) is None


FRAUD = st.sampled_from([None, "pending", "approved", "declined"])


@given(
    history=st.lists(st.tuples(FRAUD, st.integers(0, 5)), min_size=1, max_size=6),
    data=st.data(),
)
def test_merge_gives_the_same_facts_in_any_order(
    history: list[tuple[str | None, int]], data: st.DataObject
) -> None:
    bodies = [
        (body(fraud_check_status=fraud, updated_at=at(minute)), f"{fraud}@{minute}")
        for fraud, minute in history
    ]
    shuffled = data.draw(st.permutations(bodies))

    def fold(facts: Facts | None, item: tuple[Order, str]) -> Facts:
        known = None if facts is None else stored(facts, Status.AWAITING_FRAUD_CHECK)
        return merge(known, item[0], item[1], None)

    def summary(facts: Facts | None) -> tuple[object, ...]:
        assert facts is not None
        return (facts.digest, facts.fraud, facts.approved_seen, facts.declined_seen)

    assert summary(reduce(fold, shuffled, None)) == summary(reduce(fold, bodies, None))
