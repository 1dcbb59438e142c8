"""Masking a person's data: by key everywhere, by value wherever it hides, never the accounts."""

from __future__ import annotations

import json

from processor.ops.pii import ERASED, contains, fold, mask, mask_bytes, needles_of, scrub
from tests.payloads import order


def test_contact_fields_are_emptied_and_amounts_items_states_ids_stay() -> None:
    body = order("order_client_approved")
    masked = mask(body)
    assert masked["client"]["email_addresses"] == []
    assert masked["client"]["phone_numbers"] == []
    assert masked["client"]["primary_shipping_address"] is None
    assert masked["client"]["name"] == ERASED
    assert masked["buyer"]["name"] == ERASED  # a Client buyer is a person
    assert masked["client"]["id"] == body["client"]["id"]
    for key in ("id", "state", "total", "subtotal", "items", "fraud_check_status"):
        assert masked[key] == body[key], key
    assert "Avery" not in json.dumps(masked)


def test_a_business_keeps_its_name() -> None:
    body = order("order_office")
    masked = mask(body)
    assert masked["buyer"]["name"] == body["buyer"]["name"]
    assert masked["seller"]["name"] == body["seller"]["name"]


def test_values_are_found_wherever_they_sit_in_any_case() -> None:
    needles = needles_of(["Jordan.Avery@example.com"])
    value = {"notes": [{"text": "call JORDAN.AVERY@EXAMPLE.COM first"}], "n": 3}
    assert mask(value, needles) == {"notes": [{"text": ERASED}], "n": 3}
    assert scrub("to jordan.avery@Example.com, ok", needles) == f"to {ERASED}, ok"


def test_emails_compare_by_unicode_casefold_not_lower() -> None:
    assert fold("Zoë.Straße@Example.com") == fold("ZOË.STRASSE@example.com")
    assert "Zoë.Straße@Example.com".lower() != "ZOË.STRASSE@example.com".lower()
    needles = needles_of(["ZOË.STRASSE@example.com"])
    assert contains("mail zoë.straße@example.com", needles)
    # a spelling that only casefolds to a needle cannot be cut out: the whole text goes
    assert scrub("mail zoë.straße@example.com", needles) == ERASED


def test_short_values_are_no_needles() -> None:
    assert needles_of(["Al", None, "  ", "Bob Li"]) == ("bob li",)


def test_a_message_body_is_masked_as_json_or_as_text() -> None:
    needles = needles_of(["a.person@example.com"])
    body = json.dumps({"client": {"email_addresses": [{"address": "A.Person@example.com"}]}})
    assert b"example" not in mask_bytes(body.encode(), needles)
    assert mask_bytes(b"not json A.PERSON@example.com", needles) == f"not json {ERASED}".encode()
