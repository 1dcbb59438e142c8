"""Which purchase-order status an order version means, and how versions compare (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts import parse_order
from processor.pos.purchases import Change, status_of, version


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("accepted", "open"),
        ("pending", "open"),
        ("cancel_proposed", "open"),
        ("completed", "completed"),
        ("rejected", "rejected"),
        ("canceled", "canceled"),
        ("cancelled", "canceled"),  # older data's spelling
        ("canceled_post_acceptance", "canceled"),
        ("canceled_open", "canceled"),
        (None, "open"),
    ],
)
def test_the_body_state_decides_the_status(state: str | None, status: str) -> None:
    order = parse_order(json.dumps({"id": 1, "state": state}))
    assert status_of(order, Change("any")) == status


def test_a_cancel_or_reject_webhook_decides_whatever_the_body_says() -> None:
    order = parse_order('{"id": 1, "state": "accepted"}')
    assert status_of(order, Change("order canceled", status="canceled")) == "canceled"
    assert status_of(order, Change("order rejected", status="rejected")) == "rejected"


def test_versions_compare_by_time_then_step_and_undated_is_oldest() -> None:
    earlier = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    later = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    assert version(later, 0) > version(earlier, 3)
    assert version(earlier, 3) > version(earlier, 0)
    assert version(None, 3) < version(earlier, 0)
    # TEvo's timestamps are UTC even when they come without an offset
    assert version(later.replace(tzinfo=None), 0) == version(later, 0)
