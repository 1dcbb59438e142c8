"""Apply a batch of messages to the POS: one transaction, a savepoint per message.

A batch first claims the inbox rows of its messages (one statement; a message already in the
inbox is a duplicate and is not run), then runs each new message's handler after a savepoint of
its own, and ends with one statement that writes the history rows of the applied messages and
withdraws the claims of the failed ones, whose savepoints were rolled back. A single delivery is
a batch of one. This module says what happened to each message; it never acks, retries or
dead-letters: `processor.runtime.dispatch` decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import asyncpg
import structlog

from contracts import envelope as h
from processor.errors import (
    Conflict,
    DatabaseUnavailable,
    NeedsVerification,
    ProcessingError,
    Retryable,
    translate,
)
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.runtime.message import log_context

log = structlog.get_logger(__name__)

# A batch claims the inbox rows of all its messages in one statement before the first savepoint:
# the ids that come back are new and applied; the others are duplicates (applied before, or by a
# concurrent batch, whose commit the insert waits for) and are not run at all. A claim made
# before any savepoint survives a message's rollback, so the claims of the messages that failed
# are withdrawn at the end, in the statement that writes the history rows of the applied ones.
# Claiming every row first keeps the lock order acyclic: a claim waits only on another
# transaction's claim of the same message, and claims are made in the batch's (global) order.
CLAIM_SQL = """
INSERT INTO pos.inbox (consumer, message_id) SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING RETURNING message_id
"""
# applied_at is when the row is written, not when its transaction began: in a batch the two
# differ by the messages applied before it. A message whose inbox row retention removed is
# applied again when it comes back (its business keys keep it from doubling anything); its
# history row, kept longer, already says when it was first applied.
CONCLUDE_SQL = """
WITH withdrawn AS (
    DELETE FROM pos.inbox WHERE consumer = $1 AND message_id = ANY($2::text[])
)
INSERT INTO pos.order_history (tevo_order_id, order_group_id, recipient, event_type, message_id,
                               consumer, state, note, received_at, applied_at)
SELECT tevo_order_id, order_group_id, recipient, event_type, message_id, $1, state, note,
       received_at, clock_timestamp()
FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::timestamptz[])
     WITH ORDINALITY AS h(tevo_order_id, order_group_id, recipient, event_type, message_id,
                          state, note, received_at, n)
ORDER BY n
ON CONFLICT (consumer, message_id) DO NOTHING
"""
# Each message of a batch runs after its own savepoint, released when the next one is taken
# (one round trip for both) or by the commit; a failed message rolls back to it.
SAVEPOINT_SQL = "SAVEPOINT message"
NEXT_SAVEPOINT_SQL = "RELEASE SAVEPOINT message; SAVEPOINT message"
ROLLBACK_SQL = "ROLLBACK TO SAVEPOINT message"
# What a handler that returned nothing applied: its inbox row, and no history row.
UNRECORDED = Applied(None, "")
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
        if not waiting or self.deps.tevo_api is None:
            return steps
        needed = {cast(NeedsVerification, steps[i].error).order_id for i in waiting}
        deps, failed = await self.deps.answered(needed)
        again = []
        for i in waiting:
            order_id = cast(NeedsVerification, steps[i].error).order_id
            if order_id in failed:
                steps[i] = Step(error=failed[order_id])  # e.g. TEvo down: the dispatcher decides
            else:
                again.append(i)
        if again:
            redone = await self._transaction(consumer, [batch[i] for i in again], deps)
            for i, step in zip(again, redone, strict=True):
                # a handler asking twice would loop: a bug, retried and visible as such
                unanswered = isinstance(step.error, NeedsVerification)
                steps[i] = Step(error=Retryable("verification asked twice")) if unanswered else step
        return steps

    async def _transaction(
        self, consumer: Consumer, batch: Sequence[Inbound], deps: Deps | None = None
    ) -> list[Step]:
        """One transaction, a savepoint per message, in the order given; a step per message.

        `deps`: the handlers' (with TEvo's answers), by default the applier's. Raises when the
        batch as a whole failed:
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
            new = {r[0] for r in await conn.fetch(CLAIM_SQL, consumer.name, ids)}
            savepoint = SAVEPOINT_SQL
            for inbound in batch:
                if inbound.message_id not in new:
                    steps.append(Step())  # a duplicate: nothing to do, nothing to undo
                    continue
                new.discard(inbound.message_id)  # a second copy in this batch is a duplicate
                deadline.reschedule(loop.time() + timeout)
                await conn.execute(savepoint)
                savepoint = NEXT_SAVEPOINT_SQL  # releases the previous one in the same round trip
                steps.append(await self._in_savepoint(conn, consumer, inbound, deps or self.deps))
            deadline.reschedule(loop.time() + timeout)  # the conclusion and the commit
            conclusion = _conclusion(batch, steps)
            if conclusion is not None:
                await conn.execute(CONCLUDE_SQL, consumer.name, *conclusion)
        if len(batch) > 1:  # the metric counts batches, not single deliveries
            self.metrics.batches.labels(consumer.name).observe(len(batch))
        self._committed(consumer, [step.applied for step in steps if step.applied is not None])
        return steps

    async def _in_savepoint(
        self, conn: Connection, consumer: Consumer, inbound: Inbound, deps: Deps
    ) -> Step:
        """The message after its savepoint: its handler; on a failure, back to the savepoint."""
        with log_context(consumer, inbound):
            try:
                applied = await consumer.handle(inbound, conn, deps)
            except Exception as exc:  # this message's failure, or the batch's (re-raised)
                error = classify(exc)
                if isinstance(error, BATCH_FAILURES):
                    raise
                await conn.execute(ROLLBACK_SQL)  # a failure here fails the batch
                return Step(error=error)
        return Step(applied or UNRECORDED, received_at=inbound.received_at)

    def _committed(self, consumer: Consumer, applied: Sequence[Applied]) -> None:
        """What the handlers' work sets in motion once its transaction committed."""
        self.metrics.count_created(consumer.name, (r for done in applied for r in done.created))
        for done in applied:
            for then in done.after_commit:
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


def _conclusion(batch: Sequence[Inbound], steps: Sequence[Step]) -> tuple[object, ...] | None:
    """The parameters of `CONCLUDE_SQL` after the consumer: the claims to withdraw (the
    failed messages') and the history rows of the applied ones, as arrays; None: neither."""
    failed = [inbound.message_id for inbound, step in zip(batch, steps, strict=True) if step.error]
    rows = [
        _history_row(inbound, step.applied)
        for inbound, step in zip(batch, steps, strict=True)
        if step.applied is not None and step.applied is not UNRECORDED
    ]
    if not failed and not rows:
        return None
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 8
    return (failed, *columns)


def _history_row(inbound: Inbound, applied: Applied) -> tuple[object, ...]:
    """One message's row of `pos.order_history`, as `CONCLUDE_SQL` lists its columns."""
    return (
        applied.tevo_order_id,
        inbound.order_group_id,
        inbound.recipient,
        inbound.event_type,
        inbound.message_id,
        applied.state,
        _note(applied.note, inbound),
        inbound.received_at,
    )


def _note(note: str, inbound: Inbound) -> str:
    # History shows a message that was not a webhook, e.g. "sale recorded (via reconcile)".
    source = inbound.headers.get(h.HEADER_SOURCE)
    return f"{note} (via {source})" if isinstance(source, str) and source else note
