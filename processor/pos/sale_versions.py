"""Sale versions (`pos.sale_versions`): every body a sale received, kept to settle it from.

A webhook's body is stored as it came; TEvo's own copy (`review recheck`) as the API gave it.
Redeliveries never reach here (the inbox absorbs them), and the same body under the same event
type is one version however often it comes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contracts import Order, parse_order
from processor.handler import Connection
from processor.pos.sale_rules import Version

WEBHOOK, TEVO = "webhook", "tevo"
# TEvo's clock and ours may differ a little; a body dated further ahead than this is not
# believed, or one bad timestamp would outrank every later body for good.
FUTURE_SLACK = timedelta(hours=1)
_COLUMNS = "source, event_type, digest, cancels, ranked_at, body::text AS body, verified, disputed"
LOAD_SQL = f"SELECT {_COLUMNS} FROM pos.sale_versions WHERE tevo_order_id = $1"  # noqa: S608 - constants
# One round trip: the new row is not visible to the statement's own SELECT, hence the UNION.
ADD_AND_LOAD_SQL = f"""
WITH added AS (
    INSERT INTO pos.sale_versions (tevo_order_id, source, event_type, digest, cancels, ranked_at,
                                   body)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
    ON CONFLICT (tevo_order_id, source, event_type, digest) DO NOTHING
    RETURNING {_COLUMNS}
)
SELECT {_COLUMNS} FROM pos.sale_versions WHERE tevo_order_id = $1
UNION ALL SELECT * FROM added
"""  # noqa: S608 - built from constants only
# A sale with no version was written before migration 006 (or by a processor of the previous
# release during the rollout): its newest body becomes its first version, as the migration did.
ADOPT_SQL = """
INSERT INTO pos.sale_versions (tevo_order_id, source, event_type, digest, cancels, ranked_at,
                               body, verified)
SELECT s.tevo_order_id, 'webhook', 'order_created', coalesce(s.order_digest, md5(s.raw::text)),
       CASE WHEN s.status = 'canceled' THEN 'order canceled' END, s.order_updated_at, s.raw, true
FROM pos.sales s
WHERE s.tevo_order_id = $1
  AND NOT EXISTS (SELECT 1 FROM pos.sale_versions v WHERE v.tevo_order_id = $1
                  AND v.digest = coalesce(s.order_digest, md5(s.raw::text)))
ON CONFLICT (tevo_order_id, source, event_type, digest) DO NOTHING
"""
CHECKED_SQL = """
UPDATE pos.sale_versions SET verified = $5, disputed = $6
WHERE tevo_order_id = $1 AND source = $2 AND event_type = $3 AND digest = $4
"""


def ranked_time(updated_at: datetime | None, received_at: datetime) -> datetime | None:
    """`updated_at` as the timeline ranks it: None when it lies too far past its arrival."""
    if updated_at is None or updated_at > received_at + FUTURE_SLACK:
        return None
    return updated_at


@dataclass(frozen=True)
class Incoming:
    """A body about to join its sale's versions."""

    version: Version
    body: str  # JSON text, stored as received

    @classmethod
    def webhook(
        cls, order: Order, raw: bytes, event_type: str, received_at: datetime, cancels: str | None
    ) -> Incoming:
        digest = hashlib.sha256(raw).hexdigest()
        ranked = ranked_time(order.updated_at, received_at)
        text = raw.decode()
        return cls(Version(order, digest, event_type, ranked, cancels, raw=text), text)

    @classmethod
    def tevo_copy(cls, found: dict[str, Any], received_at: datetime) -> Incoming:
        """TEvo's own answer for the order, trusted as its word (`review recheck`)."""
        body = json.dumps(found, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        order = parse_order(body)
        digest = hashlib.sha256(body.encode()).hexdigest()
        ranked = ranked_time(order.updated_at, received_at)
        return cls(Version(order, digest, "tevo_copy", ranked, trusted=True, raw=body), body)


async def add_and_load(
    conn: Connection, tevo_order_id: int, incoming: Incoming | None
) -> list[Version]:
    """Store `incoming` (unless this very body and event type is there) and load every version."""
    if incoming is None:
        rows = await conn.fetch(LOAD_SQL, tevo_order_id)
    else:
        version = incoming.version
        rows = await conn.fetch(
            ADD_AND_LOAD_SQL,
            tevo_order_id,
            TEVO if version.trusted else WEBHOOK,
            version.event_type,
            version.digest,
            version.cancels,
            version.ranked_at,
            incoming.body,
        )
    return [stored(row) for row in rows]


def stored(row: asyncpg.Record) -> Version:
    """A version as `pos.sale_versions` holds it (the columns the load statements select)."""
    return Version(
        order=parse_order(row["body"]),
        digest=row["digest"],
        event_type=row["event_type"],
        ranked_at=row["ranked_at"],
        cancels=row["cancels"],
        trusted=row["source"] == TEVO,
        verified=row["verified"],
        disputed=row["disputed"],
        raw=row["body"],
    )


async def adopt_legacy(conn: Connection, tevo_order_id: int) -> bool:
    """Give a sale stored without versions its newest body as one; True when it had none."""
    status: str = await conn.execute(ADOPT_SQL, tevo_order_id)
    return status.endswith(" 1")


async def record_check(conn: Connection, version: Version, problem: str | None) -> None:
    """Remember what TEvo's API said of a webhook: confirmed, or why it contradicts it."""
    source = TEVO if version.trusted else WEBHOOK
    await conn.execute(
        CHECKED_SQL,
        version.order.id,
        source,
        version.event_type,
        version.digest,
        problem is None,
        problem,
    )
