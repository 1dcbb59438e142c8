"""Forget what the retention settings say is past its keep period, in small batches.

Each step works in batches of `batch` rows, one short statement each (its own transaction),
taking only rows nobody holds (`SKIP LOCKED`, `pg_try_advisory_xact_lock`), so a running
processor is never blocked for longer than one batch and never blocks a run. Every cutoff is
taken once at the start, so `--dry-run`'s counts are what a run then removes (a row the
processor touches meanwhile becomes recent, and stays).

- `inbox`: rows past the deduplication window. A message older than that comes again only
  as a replay; it is applied again, and the business keys (one sale per order, one invoice per
  sale, one version per body, one line per item) keep it from doubling anything.
- `history`: `pos.order_history` rows past their keep period.
- `versions`: the stored versions of a sale nothing has touched for the keep period; the sale
  row itself (status, amounts, its newest body) stays, and a later webhook adopts that body as
  its first version (`sale_versions.adopt_legacy`). A sale still changing keeps all of them:
  settling from a subset could change its outcome.
- `pii`: contact details in stored bodies (`pos.sales.raw`, `pos.sale_versions.body`,
  `pos.purchase_orders.raw`) past their keep period are masked (`processor.ops.pii`); amounts,
  items and states stay, for invoices are accounting records.
- dead letters (`retention_queues`): messages dead or unrouted for longer than their period.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import asyncpg

from processor.ops.pii import mask
from processor.ops.progress import Progress

INBOX_COUNT = "SELECT count(*) FROM pos.inbox WHERE applied_at < $1"
INBOX_BATCH = """
WITH doomed AS (
    SELECT consumer, message_id FROM pos.inbox WHERE applied_at < $1
    LIMIT $2 FOR UPDATE SKIP LOCKED
)
DELETE FROM pos.inbox i USING doomed d
WHERE i.consumer = d.consumer AND i.message_id = d.message_id
"""
HISTORY_COUNT = "SELECT count(*) FROM pos.order_history WHERE applied_at < $1"
HISTORY_BATCH = """
DELETE FROM pos.order_history WHERE id IN (
    SELECT id FROM pos.order_history WHERE applied_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""
# A quiet sale: not updated since the cutoff, and no version received since.
_QUIET = """
s.updated_at < $1
AND EXISTS (SELECT 1 FROM pos.sale_versions v WHERE v.tevo_order_id = s.tevo_order_id)
AND NOT EXISTS (SELECT 1 FROM pos.sale_versions v
                WHERE v.tevo_order_id = s.tevo_order_id AND v.received_at >= $1)
"""
VERSIONS_COUNT = f"""
SELECT count(*) FROM pos.sale_versions v
WHERE v.tevo_order_id IN (SELECT s.tevo_order_id FROM pos.sales s WHERE {_QUIET})
"""  # noqa: S608 - built from constants only
# The sale's own advisory lock (`pos.sales.LOCK_SQL`), tried: a sale being settled is skipped.
VERSIONS_BATCH = f"""
WITH quiet AS (
    SELECT s.tevo_order_id FROM pos.sales s
    WHERE {_QUIET}
      AND pg_try_advisory_xact_lock(hashtextextended('pos.sales:' || s.tevo_order_id, 0))
    LIMIT $2
)
DELETE FROM pos.sale_versions v USING quiet q WHERE v.tevo_order_id = q.tevo_order_id
"""  # noqa: S608 - built from constants only


@dataclass(frozen=True)
class Bodies:
    """A column of stored bodies whose contact details retention masks."""

    table: str
    key: str
    column: str
    age: str  # the column that says how old the body is

    @property
    def _due(self) -> str:
        if self.age == "received_at":  # a version's body never changes
            return f"{self.age} < $1 AND pii_masked_at IS NULL"
        # a row written again since it was masked holds a new body
        return f"{self.age} < $1 AND (pii_masked_at IS NULL OR pii_masked_at < {self.age})"

    @property
    def count_sql(self) -> str:
        return f"SELECT count(*) FROM {self.table} WHERE {self._due}"  # noqa: S608 - constants

    @property
    def select_sql(self) -> str:
        return (
            f"SELECT {self.key} AS key, {self.column}::text AS body FROM {self.table} "  # noqa: S608 - constants
            f"WHERE {self._due} LIMIT $2 FOR UPDATE SKIP LOCKED"
        )

    @property
    def update_sql(self) -> str:
        return (
            f"UPDATE {self.table} t SET {self.column} = m.body::jsonb, pii_masked_at = now() "  # noqa: S608 - constants
            f"FROM unnest($1::bigint[], $2::text[]) AS m(key, body) WHERE t.{self.key} = m.key"
        )


BODIES = (
    Bodies("pos.sales", "id", "raw", "updated_at"),
    Bodies("pos.sale_versions", "id", "body", "received_at"),
    Bodies("pos.purchase_orders", "id", "raw", "updated_at"),
)


@dataclass(frozen=True)
class Step:
    """One kind of data to forget: how to count it, and how to forget one batch of it."""

    name: str
    setting: str  # the ProcessorSettings field of its keep period
    count_sql: str
    forget: Callable[[asyncpg.Connection, datetime, int], Awaitable[int]]
    masks: bool = False  # masks contact details in place; the others delete rows


async def _delete(sql: str, conn: asyncpg.Connection, cutoff: datetime, batch: int) -> int:
    status: str = await conn.execute(sql, cutoff, batch)
    return int(status.rsplit(maxsplit=1)[-1])


async def _mask(bodies: Bodies, conn: asyncpg.Connection, cutoff: datetime, batch: int) -> int:
    async with conn.transaction():
        rows = await conn.fetch(bodies.select_sql, cutoff, batch)
        if not rows:
            return 0
        masked = [json.dumps(mask(json.loads(row["body"]))) for row in rows]
        await conn.execute(bodies.update_sql, [row["key"] for row in rows], masked)
    return len(rows)


def steps() -> list[Step]:
    """In the order a run takes them: the masking before the deletions, so that each count a
    dry run gives is what the run then does (a version deleted first would not be masked)."""
    masking = [
        Step(
            f"pii {bodies.table}.{bodies.column}",
            "retention_pii",
            bodies.count_sql,
            partial(_mask, bodies),
            masks=True,
        )
        for bodies in BODIES
    ]
    return [
        Step("inbox", "retention_inbox", INBOX_COUNT, partial(_delete, INBOX_BATCH)),
        *masking,
        Step("history", "retention_history", HISTORY_COUNT, partial(_delete, HISTORY_BATCH)),
        Step("versions", "retention_versions", VERSIONS_COUNT, partial(_delete, VERSIONS_BATCH)),
    ]


async def count(conn: asyncpg.Connection, step: Step, cutoff: datetime) -> int:
    found: int = await conn.fetchval(step.count_sql, cutoff)
    return found


async def forget(
    conn: asyncpg.Connection, step: Step, cutoff: datetime, batch: int, progress: Progress
) -> int:
    """Forget one step's rows batch after batch, until a batch finds none; how many."""
    done = 0
    while True:
        affected = await step.forget(conn, cutoff, batch)
        if affected == 0:
            return done
        done += affected
        progress.update(affected)
