"""TEvo's catalog events (`pos.catalog_events`): the latest version of each, and its deletion.

Each body is a whole version of the event. The newest `updated_at` decides which one is kept (at a
tie, deleted over updated over created; a body without `updated_at` is older than any with one),
so the outcome does not depend on arrival order. `event_deleted` also sets `deleted_at`, and it
stays: a late `event_updated` does not bring a deleted event back.
"""

from __future__ import annotations

from contracts import BodyError, EventType
from contracts.catalog import CatalogEvent, parse_catalog_event
from processor.errors import ContractViolation
from processor.handler import Connection, Inbound

UPSERT_SQL = """
INSERT INTO pos.catalog_events AS e (event_id, name, occurs_at, venue_id, venue_name, state,
                                     event_updated_at, event_type, raw, message_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (event_id) DO UPDATE SET
    name = EXCLUDED.name, occurs_at = EXCLUDED.occurs_at, venue_id = EXCLUDED.venue_id,
    venue_name = EXCLUDED.venue_name, state = EXCLUDED.state,
    event_updated_at = EXCLUDED.event_updated_at, event_type = EXCLUDED.event_type,
    raw = EXCLUDED.raw, message_id = EXCLUDED.message_id, updated_at = now()
WHERE (COALESCE(EXCLUDED.event_updated_at, '-infinity'),
       array_position($11::text[], EXCLUDED.event_type))
   >= (COALESCE(e.event_updated_at, '-infinity'), array_position($11::text[], e.event_type))
RETURNING true
"""
# At equal updated_at, the later step of an event's life wins.
STEPS = [EventType.EVENT_CREATED, EventType.EVENT_UPDATED, EventType.EVENT_DELETED]
# The first deletion time is kept, whichever copy arrives first.
DELETE_SQL = """
UPDATE pos.catalog_events SET deleted_at = LEAST(deleted_at, COALESCE($2, now())),
                              updated_at = now()
WHERE event_id = $1
"""


def parse(inbound: Inbound) -> tuple[int, CatalogEvent]:
    """The event's id (the webhook's `event_id`, else the body's `id`) and its body."""
    try:
        event = parse_catalog_event(inbound.body)
    except BodyError as exc:
        raise ContractViolation(f"body is not a catalog event: {exc}") from None
    event_id = inbound.event_id if inbound.event_id is not None else event.id
    if event_id is None:
        raise ContractViolation("event_id: neither the webhook nor its body names the event")
    return event_id, event


async def record_event(conn: Connection, inbound: Inbound, *, deleted: bool) -> bool:
    """Keep this version if it is the newest, and mark the event deleted if it says so.

    True when this body is now the version kept.
    """
    event_id, event = parse(inbound)
    kept = await conn.fetchval(
        UPSERT_SQL,
        event_id,
        event.name,
        event.occurs_at,
        event.venue_id,
        event.venue_name,
        event.state,
        event.updated_at,
        inbound.event_type,
        inbound.body.decode(),  # jsonb takes JSON text; Postgres checks it
        inbound.message_id,
        STEPS,
    )
    if deleted:
        at = event.deleted_at or event.updated_at or inbound.received_at
        await conn.execute(DELETE_SQL, event_id, at)
    return bool(kept)
