"""Verification compares `fraud_check_status` for Client sales only: an Office's does not matter."""

from __future__ import annotations

import json

import pytest

from contracts import Order, parse_order
from processor.tevo.verify import compare
from tests.payloads import order


def parsed(name: str, **changes: object) -> Order:
    return parse_order(json.dumps(order(name, **changes)))


@pytest.mark.parametrize(("webhook", "tevo"), [("approved", None), ("declined", "approved")])
def test_an_office_sale_may_differ_in_fraud_status(webhook: str, tevo: str | None) -> None:
    verdict = compare(
        parsed("order_office", fraud_check_status=webhook),
        parsed("order_office", fraud_check_status=tevo),
    )
    assert verdict.ok


def test_a_client_approval_tevo_does_not_back_is_still_a_difference() -> None:
    verdict = compare(
        parsed("order_client", fraud_check_status="approved"),
        parsed("order_client", fraud_check_status=None),
    )
    assert verdict.differences == ("fraud_check_status",)
