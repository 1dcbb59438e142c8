"""Turn TEvo's form POST into a `WebhookEnvelope`, or a `FormError` naming the field at fault.

The ingress checks the envelope, not the order: any well-formed event type passes, so a new
consumer never needs an ingress release. `body` must be a JSON object; it is kept byte for byte.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from contracts import CATALOG_EVENTS, EVENT_TYPE_PATTERN, Recipient, WebhookEnvelope

FIELDS = ("order_group_id", "recipient", "event_type", "body", "event_id")
MAX_ID_DIGITS = 18  # fits a Postgres bigint


class FormError(ValueError):
    """A 400: which field is wrong and why, never echoing the value."""

    def __init__(self, field: str | None, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail

    def as_json(self) -> dict[str, Any]:
        return {"error": "malformed webhook", "field": self.field, "detail": self.detail}


def parse_form(raw: bytes) -> WebhookEnvelope:
    fields = _decode(raw)
    event_type = _required(fields, "event_type")
    if not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise FormError("event_type", "must be 1 to 64 of a-z, 0-9 and _")
    recipient = _recipient(fields.get("recipient"), event_type)
    body = _required(fields, "body")
    _check_json_object(body)
    order_group_id = _digits(fields, "order_group_id")
    if order_group_id is None and recipient is not Recipient.CATALOG:
        raise FormError("order_group_id", "is required for order webhooks")
    return WebhookEnvelope(
        recipient=recipient,
        event_type=event_type,
        body=body.encode(),
        order_group_id=order_group_id,
        event_id=_digits(fields, "event_id"),
    )


def _decode(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise FormError(None, "the form is not valid UTF-8") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name not in FIELDS:
            continue  # TEvo may add fields; they are not ours to refuse
        if name in fields:
            raise FormError(name, "appears more than once")
        fields[name] = value
    return fields


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise FormError(name, "is required")
    return value


def _recipient(value: str | None, event_type: str) -> Recipient:
    if event_type in CATALOG_EVENTS:
        return Recipient.CATALOG
    if not value:
        raise FormError("recipient", "is required")
    try:
        return Recipient(value)
    except ValueError:
        raise FormError("recipient", "must be seller, buyer or catalog") from None


def _digits(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_ID_DIGITS:
        raise FormError(name, f"must be digits, at most {MAX_ID_DIGITS}")
    return int(value)


def _check_json_object(body: str) -> None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and integers past Python's digit limit
        raise FormError("body", "is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise FormError("body", "must be a JSON object")
