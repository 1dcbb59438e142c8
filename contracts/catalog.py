"""A lenient model of TEvo's catalog event JSON (Events / Show), the body of `event_*` webhooks."""

from __future__ import annotations

import re

from contracts.exact import ID_PATTERN
from contracts.orders import EventRef, Timestamp, parse_body

__all__ = ["CatalogEvent", "parse_catalog_event"]

_ID = re.compile(ID_PATTERN.strip("^$"))


class CatalogEvent(EventRef):
    """An event in TEvo's catalog; like the orders, it keeps every field it does not name."""

    state: str | None = None
    updated_at: Timestamp | None = None
    deleted_at: Timestamp | None = None

    @property
    def venue_id(self) -> int | None:
        value = (self.venue or {}).get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(value) if isinstance(value, str) and _ID.fullmatch(value) else None

    @property
    def venue_name(self) -> str | None:
        value = (self.venue or {}).get("name")
        return None if value is None else str(value)


def parse_catalog_event(body: bytes | str) -> CatalogEvent:
    """Parse an `event_*` body, raising `BodyError` naming the first field that breaks it."""
    return parse_body(CatalogEvent, body)
