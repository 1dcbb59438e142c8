"""Which fields of an order are the buyer's, how they read masked, and what a dossier diff shows."""

from __future__ import annotations

import pytest

from processor.console.privacy import mask, personal
from processor.console.story import changes, decision
from tests.payloads import order


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("client", "name"), True),
        (("client", "email_addresses", "0", "address"), True),
        (("client", "phone_numbers", "0", "number"), True),
        (("client", "primary_shipping_address", "street_address"), True),
        (("buyer", "name"), True),
        (("client", "id"), False),
        (("buyer", "type"), False),
        (("items", "0", "ticket_group", "event", "name"), False),
        (("seller", "name"), False),
        (("shipments", "0", "tracking_number"), False),
        (("shipments", "0", "shipping_address", "street"), True),
        (("total",), False),
    ],
)
def test_the_buyer_s_fields_are_personal(path: tuple[str, ...], *, expected: bool) -> None:
    assert personal(path) is expected


def test_a_masked_value_tells_values_apart_but_reaches_no_one() -> None:
    assert mask("Jordan.Avery@example.com") == "J***@***.com"
    assert mask("555-0100", "phone") == "***00"
    assert mask("Jordan Avery") == "J*** A***"
    assert mask(None) == ""
    assert "Avery" not in mask("Jordan Avery")


def test_a_diff_shows_what_changed_and_masks_the_buyer_unless_revealed() -> None:
    before = order("order_client")
    after = order("order_client_approved")
    after["client"] = {**before["client"], "name": "Jordan Q. Avery"}
    found = {c.field: (c.before, c.after) for c in changes(before, after, reveal=False)}
    assert found["fraud_check_status"] == ("pending", "approved")
    assert found["client.name"] == ("J*** A***", "J*** Q*** A***")
    assert "updated_at" not in found  # changes on every body: noise
    shown = {c.field: c.after for c in changes(before, after, reveal=True)}
    assert shown["client.name"] == "Jordan Q. Avery"


def test_added_and_removed_fields_say_so() -> None:
    found = {c.field: (c.before, c.after) for c in changes({"a": 1}, {"b": [2]}, reveal=False)}
    assert found == {"a": ("1", "(absent)"), "b.0": ("(absent)", "2")}


@pytest.mark.parametrize(
    ("status", "buyer", "words"),
    [
        ("invoiced", "Office", "invoiced whatever Riskified says"),
        ("invoiced", "Client", "fraud check approved"),
        ("awaiting_fraud_check", "Client", "only once Riskified approves"),
        ("fraud_declined", "Client", "Riskified declined"),
        ("needs_review", "Brokerage", "Held for a person"),
        ("canceled", "Office", "voided"),
    ],
)
def test_the_decision_in_words(status: str, buyer: str, words: str) -> None:
    sale = {
        "status": status,
        "buyer_type": buyer,
        "fraud_check_status": "approved",
        "review_reason": None,
        "review_decision": None,
    }
    assert words in decision(sale, riskified=True)
