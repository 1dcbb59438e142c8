"""Watch the sales that need a person: flag fraud waits past the limit, keep the gauges true.

Runs in every processor, every `TEVO_REVIEW_WATCH_INTERVAL` seconds, and tells (`TEVO_NOTIFY_URL`)
of each sale that starts to need a person. A wait past
`TEVO_FRAUD_WAIT_LIMIT` is flagged once (`fraud_wait_exceeded_at`), under the sale's own lock so
no webhook being applied at the same moment can write over the flag; the counter counts each
sale once, whichever processor flagged it. A database it cannot reach only skips a look; any
other failure ends the loop, and the supervisor the processor runs it under
(`processor.runtime.background`) logs, counts and restarts it.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from processor.errors import NO_ANSWER
from processor.metrics import ProcessorMetrics
from processor.notify import Tell, needs_person
from processor.pos.review import COLUMNS, NEEDS_PERSON, counts
from processor.pos.review_reasons import FRAUD_WAIT_EXCEEDED
from processor.pos.sales import LOCK_SQL
from processor.settings import ProcessorSettings

log = structlog.get_logger(__name__)

OVERDUE_SQL = """
SELECT tevo_order_id FROM pos.sales
WHERE status = 'awaiting_fraud_check' AND fraud_wait_exceeded_at IS NULL
  AND created_at < now() - $1::interval
ORDER BY created_at LIMIT 1000
"""
# The reason goes last, as `sale_rules.settle` writes it, and only once.
FLAG_SQL = """
UPDATE pos.sales SET fraud_wait_exceeded_at = now(), updated_at = now(),
    review_reason = CASE
        WHEN review_reason IS NULL THEN $2
        WHEN position($2 IN review_reason) > 0 THEN review_reason
        ELSE review_reason || '; ' || $2 END
WHERE tevo_order_id = $1 AND status = 'awaiting_fraud_check' AND fraud_wait_exceeded_at IS NULL
RETURNING tevo_order_id
"""
# The sales that need a person and were not told of yet (TEVO_NOTIFY_URL), oldest first.
UNTOLD_SQL = f"""
SELECT {COLUMNS} FROM pos.sales s WHERE {NEEDS_PERSON}
  AND NOT EXISTS (SELECT 1 FROM pos.notifications n
                  WHERE n.kind = 'needs_person' AND n.subject = s.tevo_order_id::text)
ORDER BY s.created_at, s.tevo_order_id LIMIT 100
"""  # noqa: S608 - built from constants only


async def look_once(
    pool: asyncpg.Pool,
    settings: ProcessorSettings,
    metrics: ProcessorMetrics,
    notify: Tell | None = None,
) -> int:
    """Flag the sales newly past the fraud wait limit and set the gauges; how many flagged."""
    flagged = 0
    for row in await pool.fetch(OVERDUE_SQL, settings.fraud_wait_limit):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_SQL, row["tevo_order_id"])
            if await conn.fetchval(FLAG_SQL, row["tevo_order_id"], FRAUD_WAIT_EXCEEDED):
                flagged += 1
                log.warning("sale.fraud_wait_exceeded", tevo_order_id=row["tevo_order_id"])
    metrics.fraud_waits_exceeded.inc(flagged)
    async with pool.acquire() as conn:
        awaiting_review, waiting_too_long = await counts(conn, settings.fraud_wait_limit)
    metrics.sales_awaiting_review.set(awaiting_review)
    metrics.sales_fraud_wait_exceeded.set(waiting_too_long)
    if notify is not None and awaiting_review:
        for sale in await pool.fetch(UNTOLD_SQL, settings.fraud_wait_limit):
            reason = sale["review_reason"] or sale["status"]
            order_id = sale["tevo_order_id"]
            notify(needs_person(settings.console_base_url, order_id=order_id, reason=reason))
    return flagged


async def watch(
    pool: asyncpg.Pool,
    settings: ProcessorSettings,
    metrics: ProcessorMetrics,
    notify: Tell | None = None,
) -> None:
    """Look every interval until cancelled; a database outage only skips a look."""
    while True:
        try:
            await look_once(pool, settings, metrics, notify)
        except NO_ANSWER as exc:
            log.warning("review_watch.failed", error_type=type(exc).__name__)
        await asyncio.sleep(settings.review_watch_interval)
