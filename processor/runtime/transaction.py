"""Apply a batch of messages to the POS: one transaction, a savepoint per message.

A single delivery is a batch of one, so every message takes its locks in the same order: first
what its handler locks (its order), then its inbox row. Each message's savepoint runs the
handler, then records its `message_id` in the inbox (a second copy stops there) with its history
row. This module says what happened to each message; it never acks, retries or dead-letters:
`processor.runtime.dispatch` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg
import structlog

from contracts import envelope as h
from processor.deps import Deps
from processor.errors import (
    Conflict,
    DatabaseUnavailable,
    NeedsVerification,
    ProcessingError,
    Retryable,
    translate,
)
from processor.metrics import ProcessorMetrics
from processor.runtime.message import Applied, Connection, Consumer, Inbound
from processor.tevo.verify import answers, fetch_answers

log = structlog.get_logger("processor.runtime.dispatch")

# The inbox row alone, for a handler that returns nothing for the history.
INBOX_SQL = """
INSERT INTO pos.inbox (consumer, message_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING RETURNING true
"""
# A batch asks once which of its messages the inbox has, and writes each new one's inbox row
# with its history row, after the handler, in one round trip. No row back: the message was
# applied meanwhile (a copy in a concurrent batch, or earlier in this one), and its savepoint
# is rolled back as a duplicate's. applied_at is when the row is written, not when its
# transaction began: in a batch the two differ by the messages applied before it.
INBOX_KNOWN_SQL = """
SELECT message_id FROM pos.inbox WHERE consumer = $1 AND message_id = ANY($2::text[])
"""
INBOX_AND_HISTORY_SQL = """
WITH inbox AS (
    INSERT INTO pos.inbox (consumer, message_id) VALUES ($6, $5)
    ON CONFLICT DO NOTHING RETURNING true
)
INSERT INTO pos.order_history (tevo_order_id, order_group_id, recipient, event_type, message_id,
                               consumer, state, note, received_at, applied_at)
SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text,
       $9::timestamptz, clock_timestamp()
FROM inbox
RETURNING true
"""
# Each message of a batch runs after its own savepoint, released when the next one is taken
# (one round trip for both) or by the commit; a failed message rolls back to it.
SAVEPOINT_SQL = "SAVEPOINT message"
NEXT_SAVEPOINT_SQL = "RELEASE SAVEPOINT message; SAVEPOINT message"
ROLLBACK_SQL = "ROLLBACK TO SAVEPOINT message"
# Failures of the batch, not of one message: its transaction is lost or cannot be trusted.
BATCH_FAILURES = (DatabaseUnavailable, Conflict)


@dataclass(frozen=True)
class Step:
    """What applying one message came to: applied, a duplicate (`applied` None), or an error."""

    applied: Applied | None = None
    error: ProcessingError | None = None
    received_at: datetime | None = None


@dataclass
class Applier:
    pool: asyncpg.Pool
    deps: Deps
    metrics: ProcessorMetrics

    async def apply(self, consumer: Consumer, batch: Sequence[Inbound]) -> list[Step]:
        """Apply `batch` (see `_transaction`); the messages whose handler needed TEvo's answer
        for their order are applied again in a second transaction, once the answers were
        fetched outside any transaction and lock. Raises when a transaction failed whole."""
        steps = await self._transaction(consumer, batch)
        waiting = [i for i, step in enumerate(steps) if isinstance(step.error, NeedsVerification)]
        api = self.deps.tevo_api
        if not waiting or api is None:
            return steps
        needed = {cast(NeedsVerification, steps[i].error).order_id for i in waiting}
        found, failed = await fetch_answers(api, needed)
        again = []
        for i in waiting:
            order_id = cast(NeedsVerification, steps[i].error).order_id
            if order_id in failed:
                steps[i] = Step(error=failed[order_id])  # e.g. TEvo down: the dispatcher decides
            else:
                again.append(i)
        if again:
            with answers(found):
                redone = await self._transaction(consumer, [batch[i] for i in again])
            for i, step in zip(again, redone, strict=True):
                # a handler asking twice would loop: a bug, retried and visible as such
                unanswered = isinstance(step.error, NeedsVerification)
                steps[i] = Step(error=Retryable("verification asked twice")) if unanswered else step
        return steps

    async def _transaction(self, consumer: Consumer, batch: Sequence[Inbound]) -> list[Step]:
        """One transaction, a savepoint per message, in the order given; a step per message.

        Raises when the batch as a whole failed:
        then nothing of it was committed. No part of it (taking a connection, one message, the
        commit) may take longer than the handler timeout.
        """
        steps: list[Step] = []
        timeout = self.deps.settings.handler_timeout
        loop = asyncio.get_running_loop()
        async with (
            asyncio.timeout(timeout) as deadline,
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            ids = [inbound.message_id for inbound in batch]
            known = {r["message_id"] for r in await conn.fetch(INBOX_KNOWN_SQL, consumer.name, ids)}
            savepoint = SAVEPOINT_SQL
            for inbound in batch:
                if inbound.message_id in known:
                    steps.append(Step())  # a duplicate: nothing to do, nothing to undo
                    continue
                deadline.reschedule(loop.time() + timeout)
                await conn.execute(savepoint)
                savepoint = NEXT_SAVEPOINT_SQL  # releases the previous one in the same round trip
                steps.append(await self._in_savepoint(conn, consumer, inbound))
            deadline.reschedule(loop.time() + timeout)  # the commit
        if len(batch) > 1:  # the metric counts batches, not single deliveries
            self.metrics.batches.labels(consumer.name).observe(len(batch))
        for step in steps:
            if step.applied is not None:
                self._committed(consumer, step.applied)
        return steps

    async def _in_savepoint(self, conn: Connection, consumer: Consumer, inbound: Inbound) -> Step:
        """The message after its savepoint: handler, then inbox and history; on a failure or a
        duplicate, back to the savepoint."""
        try:
            with log_context(consumer, inbound):
                applied = await consumer.handle(inbound, conn, self.deps)
                if applied is None:  # applied, with nothing for the history
                    applied = Applied(None, "")
                    new = await conn.fetchval(INBOX_SQL, consumer.name, inbound.message_id)
                else:
                    new = await conn.fetchval(
                        INBOX_AND_HISTORY_SQL, *_history(consumer, inbound, applied)
                    )
        except Exception as exc:  # this message's failure, or the batch's (re-raised)
            error = classify(exc)
            if isinstance(error, BATCH_FAILURES):
                raise
            await conn.execute(ROLLBACK_SQL)  # a failure here fails the batch
            return Step(error=error)
        if not new:
            await conn.execute(ROLLBACK_SQL)  # applied meanwhile: a duplicate changes nothing
            return Step()
        return Step(applied, received_at=inbound.received_at)

    def _committed(self, consumer: Consumer, applied: Applied) -> None:
        """What a handler's work sets in motion once its transaction committed."""
        self.metrics.count_created(consumer.name, applied.created)
        for then in applied.after_commit:
            then()


def classify(exc: Exception) -> ProcessingError:
    """Our error for any exception a message raised."""
    known = translate(exc)
    if known is not None:
        return known
    # A bug or an unforeseen failure: retried like a transient one (it may be), and dead-lettered
    # with its type once the attempts run out, so it is visible and never a crash loop.
    log.error("message.unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    return Retryable(f"unexpected {type(exc).__name__}")


def log_context(consumer: Consumer, inbound: Inbound) -> contextlib.AbstractContextManager[Any]:
    """Log context of one message: every line logged while it is applied or settled says which."""
    return structlog.contextvars.bound_contextvars(
        consumer=consumer.name,
        message_id=inbound.message_id,
        event_type=inbound.event_type,
        order_group_id=inbound.order_group_id,
    )


def _history(consumer: Consumer, inbound: Inbound, applied: Applied) -> tuple[object, ...]:
    """The parameters of `INBOX_AND_HISTORY_SQL`."""
    return (
        applied.tevo_order_id,
        inbound.order_group_id,
        inbound.recipient,
        inbound.event_type,
        inbound.message_id,
        consumer.name,
        applied.state,
        _note(applied.note, inbound),
        inbound.received_at,
    )


def _note(note: str, inbound: Inbound) -> str:
    # History shows a message that was not a webhook, e.g. "sale recorded (via reconcile)".
    source = inbound.headers.get(h.HEADER_SOURCE)
    return f"{note} (via {source})" if isinstance(source, str) and source else note
