"""A batch through its consumer's set-based handler, with the message-by-message path behind it.

A consumer with `Consumer.batch` applies a batch's new messages in one call, a statement per
step for them all (`processor.pos.sale_batch`), inside the same transaction shape as the
message-by-message path: claim the inbox rows, apply, write the history, commit. When the
handler needs TEvo's answers it says for which orders; they are fetched outside the transaction
and the batch is tried again with them. Any other failure (a message that breaks a rule, a row
it cannot take, a deadlock, a timeout) rolls the whole batch back and returns None: the caller
then applies each message after a savepoint of its own, where one bad message is isolated and
`Retryable`/`Permanent` keep their meaning. A metric counts those fallbacks, by reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import asyncpg
import structlog

from processor.handler import AnswersNeeded, Applied, Consumer, Deps, Inbound, NotBatchable
from processor.metrics import ProcessorMetrics
from processor.runtime.inbox import CLAIM_SQL, CONCLUDE_SQL, UNRECORDED, Step, conclusion


class Applier(Protocol):
    """What this path needs of `processor.runtime.transaction.Applier`, which calls it."""

    pool: asyncpg.Pool
    deps: Deps
    metrics: ProcessorMetrics

    def committed(self, consumer: Consumer, applied: Sequence[Applied]) -> None: ...


log = structlog.get_logger(__name__)


async def apply_set_based(
    applier: Applier, consumer: Consumer, batch: Sequence[Inbound]
) -> list[Step] | None:
    """The batch's steps from the set-based handler, or None: apply it message by message."""
    deps = applier.deps
    reason, detail = "unanswered", "asked twice"
    for _ in range(2):  # once, and once more with the TEvo answers the first try asked for
        try:
            return await _transaction(applier, consumer, batch, deps)
        except AnswersNeeded as needed:
            if deps.tevo_api is None:
                break
            deps, failed = await deps.answered(needed.order_ids)
            if failed:
                detail = f"{len(failed)} orders"
                break
        except NotBatchable as exc:
            reason, detail = "not_batchable", str(exc)
            break
        except Exception as exc:  # noqa: BLE001 - rolled back whole; the per-message path isolates it
            reason, detail = "error", type(exc).__name__
            break
    applier.metrics.set_based_fallbacks.labels(consumer.name, reason).inc()
    log.info("batch.set_based_fallback", consumer=consumer.name, reason=reason, detail=detail)
    return None


async def _transaction(
    applier: Applier, consumer: Consumer, batch: Sequence[Inbound], deps: Deps
) -> list[Step]:
    """One transaction: claim, the set-based handler on the new messages, history, commit."""
    assert consumer.batch is not None  # noqa: S101 - the applier calls this only then
    ids = [inbound.message_id for inbound in batch]
    async with (
        asyncio.timeout(deps.settings.handler_timeout),
        applier.pool.acquire() as conn,
        conn.transaction(),
    ):
        new = {r[0] for r in await conn.fetch(CLAIM_SQL, consumer.name, ids)}
        fresh: list[int] = []  # positions of the new messages; a second copy is a duplicate
        for position, inbound in enumerate(batch):
            if inbound.message_id in new:
                new.discard(inbound.message_id)
                fresh.append(position)
        applied = await consumer.batch(conn, deps, [batch[i] for i in fresh]) if fresh else []
        steps = [Step() for _ in batch]
        for position, done in zip(fresh, applied, strict=True):
            steps[position] = Step(done or UNRECORDED, received_at=batch[position].received_at)
        concluded = conclusion(batch, steps)
        if concluded is not None:
            await conn.execute(CONCLUDE_SQL, consumer.name, *concluded)
    applier.metrics.batches.labels(consumer.name).observe(len(batch))
    applier.committed(consumer, [step.applied for step in steps if step.applied is not None])
    return steps
