"""A lenient model of TEvo's catalog event JSON (Events / Show), the body of `event_*` webhooks."""

from __future__ import annotations

from contracts.orders import EventRef, Timestamp, parse_body

__all__ = ["CatalogEvent", "parse_catalog_event"]


class CatalogEvent(EventRef):
    """An event in TEvo's catalog; like the orders, it keeps every field it does not name."""

    state: str | None = None
    updated_at: Timestamp | None = None
    deleted_at: Timestamp | None = None

    @property
    def venue_id(self) -> int | None:
        value = (self.venue or {}).get("id")
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

    @property
    def venue_name(self) -> str | None:
        value = (self.venue or {}).get("name")
        return None if value is None else str(value)


def parse_catalog_event(body: bytes | str) -> CatalogEvent:
    """Parse an `event_*` body, raising `BodyError` naming the first field that breaks it."""
    return parse_body(CatalogEvent, body)
