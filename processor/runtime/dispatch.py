"""The one place that decides a message's outcome.

For each delivery: decode it, apply it in a Postgres transaction (`processor.runtime.transaction`:
handler, inbox, history), commit, and only then ack. Failures follow `processor.errors`: a
`Retryable` goes to a delay queue and comes back, until its attempts run out; a `Permanent` is
dead-lettered at once with the reason in its headers. Every republish waits for RabbitMQ's confirm
before the original is acked, so a crash in between duplicates a message (which the inbox absorbs)
but never loses one.

A batch (`handle_batch`) applies several deliveries of one consumer in one transaction, each in
a savepoint of its own, and acks them after the one commit, together where it can
(`processor.runtime.acks`); a single delivery is a batch of one.
A message that fails is rolled back to its savepoint alone and then retried or dead-lettered as
above. When the batch itself fails (the connection, a conflict, a timeout, the commit), nothing
of it was committed and each message is handled again in a batch of its own, so no message can
hold a batch back.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from contracts.topology import Topology
from processor.deps import Deps
from processor.errors import ContractViolation, ProcessingError, translate
from processor.metrics import ProcessorMetrics
from processor.runtime.acks import Acks
from processor.runtime.inbox import Step
from processor.runtime.message import Consumer, Inbound, decode, decoded, lock_order
from processor.runtime.pause import Pause, outage_probe
from processor.runtime.republish import Publisher, publish_copy
from processor.runtime.retries import decide, log_decision, original_key
from processor.runtime.transaction import Applier, classify, log_context

log = structlog.get_logger("processor.runtime.dispatch")
_stdlib_log = logging.getLogger("processor.runtime.dispatch")


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    REQUEUED = "requeued"  # could not even reach the broker to retry; the broker redelivers
    PAUSED = "paused"  # a dependency is down: back to the queue, no attempt spent


@dataclass
class Dispatcher:
    pool: asyncpg.Pool
    channel: AbstractChannel
    topology: Topology
    deps: Deps
    metrics: ProcessorMetrics
    pause: Pause = field(default_factory=Pause)
    # The publishing connection's channel; None: copies go out on `channel` (tests, tools).
    publisher: Publisher | None = None
    acks: Acks = field(default_factory=Acks)  # the consuming channel's deliveries
    applier: Applier = field(init=False)

    def __post_init__(self) -> None:
        self.applier = Applier(self.pool, self.deps, self.metrics)
        # The consumer's histogram child, looked up once: `labels()` takes a lock every time.
        self._end_to_end = functools.cache(self.metrics.end_to_end_seconds.labels)

    def received(self, delivery: AbstractIncomingMessage) -> None:
        """Note a delivery as it arrives, before it joins a batch (see `processor.runtime.acks`)."""
        self.acks.received(delivery)

    async def handle_batch(
        self, consumer: Consumer, deliveries: Sequence[AbstractIncomingMessage]
    ) -> list[Outcome]:
        """Several deliveries of `consumer` in one transaction, a savepoint each; their outcomes.

        The batch is applied in the order of what its handler locks (`Consumer.lock_key`, then
        the message id), the same for every batch and every single delivery, so that two
        transactions never wait on each other's locks the other way round.
        """
        if self.pause.active:
            return [await self._hold(consumer, delivery) for delivery in deliveries]
        batch = [(d, inbound) for d in deliveries if (inbound := decoded(d)) is not None]
        if len(batch) < 2:
            return [await self._alone(consumer, delivery) for delivery in deliveries]
        batch.sort(key=lambda pair: lock_order(consumer, pair[1]))
        started = time.perf_counter()
        try:
            steps = await self.applier.apply(consumer, [inbound for _, inbound in batch])
        except Exception as exc:  # noqa: BLE001 - nothing was committed: each message gets its own try below
            _log_batch_failure(exc, len(batch))
            self.metrics.batch_fallbacks.labels(consumer.name).inc()
            return [await self._alone(consumer, delivery) for delivery in deliveries]
        outcomes = await self._settle(consumer, batch, steps)
        seconds = time.perf_counter() - started  # what each message waited for: the whole batch
        observe = self.metrics.handler_seconds.labels(consumer.name).observe
        for _ in batch:
            observe(seconds)
        in_batch = {id(delivery) for delivery, _ in batch}
        undecodable = [d for d in deliveries if id(d) not in in_batch]
        return outcomes + [await self._alone(consumer, delivery) for delivery in undecodable]

    async def _alone(self, consumer: Consumer, delivery: AbstractIncomingMessage) -> Outcome:
        """One delivery in a batch of its own, whose failure is that message's."""
        if self.pause.active:
            return await self._hold(consumer, delivery)
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(
            consumer=consumer.name, message_id=delivery.message_id
        )
        try:
            try:
                inbound = decode(delivery)
                structlog.contextvars.bind_contextvars(
                    event_type=inbound.event_type, order_group_id=inbound.order_group_id
                )
                (step,) = await self.applier.apply(consumer, [inbound])
            except Exception as exc:  # noqa: BLE001 - every error is mapped to retry or dead-letter right here
                step = Step(error=classify(exc))
            if step.error is not None:
                outcome = await self._fail(consumer, delivery, step.error)
            else:
                await self.acks.ack([delivery])
                outcome = self._acked(consumer, inbound, step, datetime.now(UTC))
        finally:
            structlog.contextvars.clear_contextvars()
        self.metrics.messages.labels(consumer.name, outcome.value).inc()
        self.metrics.handler_seconds.labels(consumer.name).observe(time.perf_counter() - started)
        return outcome

    async def _settle(
        self,
        consumer: Consumer,
        batch: Sequence[tuple[AbstractIncomingMessage, Inbound]],
        steps: Sequence[Step],
    ) -> list[Outcome]:
        """Ack the committed messages (applied or duplicates) together, then retry or
        dead-letter the failed ones: a failure's copy may wait on the broker (an alarm), the
        acks of committed work must not."""
        done = [i for i, step in enumerate(steps) if step.error is None]
        await self.acks.ack([batch[i][0] for i in done])
        now = datetime.now(UTC)
        outcomes = dict.fromkeys(range(len(steps)), Outcome.APPLIED)
        for i in done:
            outcomes[i] = self._acked(consumer, batch[i][1], steps[i], now)
        for i, step in enumerate(steps):
            if step.error is not None:
                delivery, inbound = batch[i]
                with log_context(consumer, inbound):
                    outcomes[i] = await self._fail(consumer, delivery, step.error)
        for outcome, count in Counter(outcomes.values()).items():
            self.metrics.messages.labels(consumer.name, outcome.value).inc(count)
        return list(outcomes.values())

    def _acked(self, consumer: Consumer, inbound: Inbound, step: Step, now: datetime) -> Outcome:
        """The outcome of an acked message, and its end-to-end latency when it was applied."""
        if step.applied is None:
            with log_context(consumer, inbound):  # duplicates stay visible at info
                log.info("message.acked", outcome=Outcome.DUPLICATE.value)
            return Outcome.DUPLICATE
        if step.received_at is not None:
            lag = (now - step.received_at).total_seconds()
            self._end_to_end(consumer.name).observe(max(lag, 0.0))
        # A line per applied message costs about as much as a round trip at info: the
        # handler's own line (e.g. sale.applied) says what changed. Checked here, the level
        # spares even the context binding.
        if _stdlib_log.isEnabledFor(logging.DEBUG):
            with log_context(consumer, inbound):
                log.debug("message.acked", outcome=Outcome.APPLIED.value)
        return Outcome.APPLIED

    async def _fail(
        self, consumer: Consumer, delivery: AbstractIncomingMessage, error: ProcessingError
    ) -> Outcome:
        if self.pause.active:
            return await self._hold(consumer, delivery, counted=False)
        probe = outage_probe(error, self.pool, self.deps.tevo_api, _order_id(delivery))
        if probe is not None and not await probe():
            self.pause.trip(error, probe)
            return await self._hold(consumer, delivery, counted=False)
        headers = dict(delivery.headers or {})
        decision = decide(
            error,
            headers,
            consumer=consumer.name,
            routing_key=original_key(headers, delivery),
            topology=self.topology,
            settings=self.deps.settings,
            now=datetime.now(UTC),
        )
        log_decision(decision, error)
        try:
            if self.publisher is not None:
                await self.publisher.copy(delivery, decision.queue, decision.headers)
            else:
                await publish_copy(
                    self.channel.default_exchange, delivery, decision.queue, decision.headers
                )
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            log.warning("message.requeued", reason="republish failed", error=type(exc).__name__)
            await self.acks.nack(delivery)
            return Outcome.REQUEUED
        await self.acks.ack([delivery])
        return Outcome.DEAD_LETTERED if decision.dead else Outcome.RETRIED

    async def _hold(
        self, consumer: Consumer, delivery: AbstractIncomingMessage, *, counted: bool = True
    ) -> Outcome:
        """Back to the queue, unacked and with no attempt spent, while a dependency is down."""
        await self.acks.nack(delivery)
        if counted:  # `_settle` and `_alone` count the outcomes of the messages they were given
            self.metrics.messages.labels(consumer.name, Outcome.PAUSED.value).inc()
        return Outcome.PAUSED


def _order_id(delivery: AbstractIncomingMessage) -> int | None:
    """The order a delivery is about, for a probe of TEvo's API; None when it is no order."""
    inbound = decoded(delivery)
    if inbound is None:
        return None
    try:
        return inbound.order().id
    except ContractViolation:
        return None


def _log_batch_failure(exc: Exception, size: int) -> None:
    error = translate(exc)
    if error is None:
        log.error("batch.failed", size=size, error_type=type(exc).__name__, exc_info=exc)
    else:
        log.warning("batch.failed", size=size, error_type=type(error).__name__, error=str(error))
