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
from typing import cast

import asyncpg
import structlog

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
from processor.runtime.inbox import CLAIM_SQL, CONCLUDE_SQL, UNRECORDED, Step, conclusion
from processor.runtime.message import log_context
from processor.runtime.set_based import apply_set_based

log = structlog.get_logger(__name__)

# Each message of a batch runs after its own savepoint, released when the next one is taken
# (one round trip for both) or by the commit; a failed message rolls back to it.
SAVEPOINT_SQL = "SAVEPOINT message"
NEXT_SAVEPOINT_SQL = "RELEASE SAVEPOINT message; SAVEPOINT message"
ROLLBACK_SQL = "ROLLBACK TO SAVEPOINT message"
# Failures of the batch, not of one message: its transaction is lost or cannot be trusted.
BATCH_FAILURES = (DatabaseUnavailable, Conflict)


@dataclass
class Applier:
    pool: asyncpg.Pool
    deps: Deps
    metrics: ProcessorMetrics

    async def apply(self, consumer: Consumer, batch: Sequence[Inbound]) -> list[Step]:
        """Apply `batch` (see `_transaction`); the messages whose handler needed TEvo's answer
        for their order are applied again in a second transaction, once the answers were
        fetched outside any transaction and lock. Raises when a transaction failed whole."""
        steps = None
        if consumer.batch is not None and len(batch) > 1:
            steps = await apply_set_based(self, consumer, batch)
        if steps is None:
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
            concluded = conclusion(batch, steps)
            if concluded is not None:
                await conn.execute(CONCLUDE_SQL, consumer.name, *concluded)
        if len(batch) > 1:  # the metric counts batches, not single deliveries
            self.metrics.batches.labels(consumer.name).observe(len(batch))
        self.committed(consumer, [step.applied for step in steps if step.applied is not None])
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

    def committed(self, consumer: Consumer, applied: Sequence[Applied]) -> None:
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
