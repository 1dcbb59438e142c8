"""`catalog.event_*`: keep the latest version of each TEvo catalog event, deletions included."""

from __future__ import annotations

import structlog

from contracts import EventType, Recipient, routing_key
from processor.handler import Connection, Consumer, Deps, Inbound
from processor.pos.catalog import parse, record_event

log = structlog.get_logger(__name__)


async def handle(inbound: Inbound, conn: Connection, _deps: Deps) -> None:
    deleted = inbound.event_type == EventType.EVENT_DELETED
    kept = await record_event(conn, inbound, deleted=deleted)
    # Returns no `Applied`: a catalog event is no order, so it gets no order history row.
    log.debug("catalog.event_recorded", event_id=inbound.event_id, kept=kept, deleted=deleted)


def event_id(inbound: Inbound) -> int:
    """The catalog event whose row `handle` upserts (and so locks)."""
    return parse(inbound)[0]


CONSUMER = Consumer(
    "catalog.events",
    tuple(
        routing_key(Recipient.CATALOG, event)
        for event in (EventType.EVENT_CREATED, EventType.EVENT_UPDATED, EventType.EVENT_DELETED)
    ),
    handle,
    lock_key=event_id,
)
