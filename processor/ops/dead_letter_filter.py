"""Which dead letters an operator means: by reason, time of the last failure, order, message id.

Shared by `dead-letters` on the command line and the console's dead-letter page, so a filter
picks the same messages in both, for a dry run and for the act that follows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import envelope as h
from processor.runtime.retries import dead_letter_reason


@dataclass(frozen=True)
class Filter:
    """None matches anything; every field given must match."""

    reason: str | None = None  # the dead-letter reason, or the error's type
    since: datetime | None = None  # last failure at or after
    until: datetime | None = None  # last failure before
    order: int | None = None  # a TEvo order id or an order group id
    message_ids: frozenset[str] | None = None

    def matches(self, headers: dict[str, Any], body: bytes, message_id: str | None) -> bool:
        if self.message_ids is not None and message_id not in self.message_ids:
            return False
        if self.reason is not None and self.reason not in _reasons(headers):
            return False
        if self.order is not None and self.order not in order_ids(headers, body):
            return False
        return self._in_time(failed_at(headers))

    def _in_time(self, failed: datetime | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if failed is None:
            return False
        return (self.since is None or failed >= self.since) and (
            self.until is None or failed < self.until
        )

    @property
    def everything(self) -> bool:
        return self == Filter()


def _reasons(headers: dict[str, Any]) -> set[str]:
    return {dead_letter_reason(headers), _text(headers.get(h.HEADER_ERROR_TYPE)) or ""}


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def failed_at(headers: dict[str, Any]) -> datetime | None:
    text = _text(headers.get(h.HEADER_LAST_FAILED_AT))
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def order_ids(headers: dict[str, Any], body: bytes) -> set[int]:
    """The order group (a header) and the order's own id (the body's `id` or `order_id`)."""
    found: set[int] = set()
    for value in (headers.get(h.HEADER_ORDER_GROUP_ID), *_body_ids(body)):
        try:
            found.add(int(_text(value) or ""))
        except ValueError:
            continue  # absent or not a number: this one names no order
    return found


def _body_ids(body: bytes) -> Iterable[object]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return ()
    if not isinstance(parsed, dict):
        return ()
    return (parsed.get("id"), parsed.get("order_id"))
