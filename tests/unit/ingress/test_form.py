"""The form parser: TEvo's form passes byte for byte; anything else is a 400 naming the field."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from contracts import Recipient
from ingress.form import (
    FIELDS,
    MAX_FIELD_NAME_LENGTH,
    MAX_JSON_DEPTH,
    MAX_NUMBER_LENGTH,
    FormError,
    parse_form,
)
from tests.payloads import form, order


def test_a_real_order_passes_and_its_body_is_kept_byte_for_byte() -> None:
    body = json.dumps(order(), indent=1, ensure_ascii=False)
    envelope = parse_form(form(body).encode())
    assert envelope.body == body.encode()
    assert envelope.recipient is Recipient.SELLER
    assert envelope.order_group_id == 4606857


def test_plus_is_a_space_and_empty_pairs_are_skipped() -> None:
    raw = b"&&recipient=seller&event_type=order_created&order_group_id=1&body=%7B%22a%22%3A+1%7D&"
    assert parse_form(raw).body == b'{"a": 1}'


def test_unknown_fields_are_ignored_even_twice() -> None:
    raw = form(order(), signature="x").encode() + b"&signature=y&%E2%9C%93=1"
    assert parse_form(raw).event_type == "order_created"


def test_a_catalog_event_needs_no_order_group() -> None:
    raw = urlencode({"event_type": "event_updated", "event_id": "77", "body": "{}"}).encode()
    envelope = parse_form(raw)
    assert (envelope.recipient, envelope.event_id) == (Recipient.CATALOG, 77)


def _refusal(raw: bytes) -> tuple[str | None, str]:
    with pytest.raises(FormError) as caught:
        parse_form(raw, max_fields=8)
    assert caught.value.detail is not None
    return caught.value.field, caught.value.detail


def _body(text: str) -> bytes:
    return form(text).encode()


@pytest.mark.parametrize(
    ("raw", "field", "detail"),
    [
        (b"", "event_type", "is required"),
        (_body("{}") + b"&body=%7B%7D", "body", "appears more than once"),
        (b"event_type=order%zzcreated", "event_type", "has a broken %-escape"),
        (b"event_type=order_created&body=%7B%7", "body", "has a broken %-escape"),
        (b"event_type=%ff%fe", "event_type", "is not valid UTF-8"),
        (b"event_type=\xff", "event_type", "is not valid UTF-8"),
        (b"na%ffme=1", None, "a field name is not valid UTF-8"),
        (b"na%zme=1", None, "a field name has a broken %-escape"),
        (b"x" * (MAX_FIELD_NAME_LENGTH + 1) + b"=1", None, "a field name is longer than"),
        (b"&".join([b"a=1"] * 9), None, "the form has more than 8 fields"),
        (form(order(), event_type="Order.Created").encode(), "event_type", "must be 1 to 64"),
        (form(order(), event_type="a\x00b").encode(), "event_type", "must be 1 to 64"),
        (form(order(), recipient="broker").encode(), "recipient", "must be seller, buyer"),
        (form(order(), order_group_id="9" * 19).encode(), "order_group_id", "must be digits"),
        (form(order(), order_group_id="-1").encode(), "order_group_id", "must be digits"),
        (form(order(), order_group_id="١٢").encode(), "order_group_id", "must be digits"),
        (form(order(), order_group_id=None).encode(), "order_group_id", "is required"),
        (_body("{"), "body", "is not valid JSON"),
        (_body("[1, 2]"), "body", "must be a JSON object"),
        (_body('{"a": 1, "a": 2}'), "body", "a key twice"),
        (_body('{"a": NaN}'), "body", "has NaN"),
        (_body('{"a": -Infinity}'), "body", "has -Infinity"),
        (_body('{"a": ' + "9" * (MAX_NUMBER_LENGTH + 1) + "}"), "body", "a number longer"),
        (_body('{"a": 1' + "0" * 5000 + ".5}"), "body", "a number longer"),
        (_body('{"a": "\\u0000"}'), "body", "NUL"),
        (_body('{"\\u0000": 1}'), "body", "NUL"),
        (_body('{"a": "\\ud800"}'), "body", "unpaired surrogate"),
        (_body('{"a": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"), "body", "nests"),
        (_body("[" * 100_000 + "]" * 100_000), "body", "nests deeper"),
        (_body('{"a": "x"}\x00'), "body", "is not valid JSON"),
    ],
)
def test_malformed_forms_name_the_field(raw: bytes, field: str | None, detail: str) -> None:
    got_field, got_detail = _refusal(raw)
    assert got_field == field
    assert detail in got_detail


def test_a_refusal_never_echoes_the_value() -> None:
    secret = "4111111111111111-buyer@example.com"
    for raw in (
        form(order(), recipient=secret).encode(),
        form(order(), order_group_id=secret).encode(),
        _body(secret),
        quote(secret * 5).encode() + b"=1",
    ):
        with pytest.raises(FormError) as caught:
            parse_form(raw)
        assert secret not in json.dumps(caught.value.as_json())
        assert caught.value.field in (*FIELDS, None)


def test_nesting_up_to_the_limit_passes() -> None:
    depth = MAX_JSON_DEPTH - 1  # the object itself is the first level
    body = '{"a": ' + "[" * depth + "]" * depth + "}"
    assert parse_form(_body(body)).body == body.encode()
