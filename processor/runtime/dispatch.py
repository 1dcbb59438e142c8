"""The one place that decides a message's outcome.

For each delivery: decode it, apply it in a Postgres transaction (`processor.runtime.transaction`:
handler, inbox, history), commit, and only then ack. Failures follow `processor.errors`: a
`Retryable` goes to a delay queue and comes back, until its attempts run out; a `Permanent` is
dead-lettered at once with the reason in its headers. Every republish waits for RabbitMQ's confirm
before the original is acked, so a crash in between duplicates a message (which the inbox absorbs)
but never loses one.

A batch (`handle_batch`) applies several deliveries of one consumer in one transaction, each in
a savepoint of its own, and acks each after the one commit; a single delivery is a batch of one.
A message that fails is rolled back to its savepoint alone and then retried or dead-lettered as
above. When the batch itself fails (the connection, a conflict, a timeout, the commit), nothing
of it was committed and each message is handled again in a batch of its own, so no message can
hold a batch back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from contracts import envelope as h
from contracts import routing_key
from contracts.topology import Topology
from processor.deps import Deps
from processor.errors import ContractViolation, ProcessingError, translate
from processor.metrics import ProcessorMetrics
from processor.runtime.message import Consumer, Inbound, decode
from processor.runtime.pause import Pause, outage_probe
from processor.runtime.republish import Publisher, publish_copy
from processor.runtime.retries import MAX_ERROR_TEXT, Decision, decide
from processor.runtime.transaction import Applier, Step, classify, log_context

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
    applier: Applier = field(init=False)

    def __post_init__(self) -> None:
        self.applier = Applier(self.pool, self.deps, self.metrics)

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
        batch = [(d, inbound) for d in deliveries if (inbound := _decoded(d)) is not None]
        if len(batch) < 2:
            return [await self._alone(consumer, delivery) for delivery in deliveries]
        batch.sort(key=lambda pair: _lock_order(consumer, pair[1]))
        started = time.perf_counter()
        try:
            steps = await self.applier.apply(consumer, [inbound for _, inbound in batch])
        except Exception as exc:  # noqa: BLE001 - nothing was committed: each message gets its own try below
            _log_batch_failure(exc, len(batch))
            self.metrics.batch_fallbacks.labels(consumer.name).inc()
            return [await self._alone(consumer, delivery) for delivery in deliveries]
        settled: dict[int, Outcome] = {}
        # Acks first: a failure's copy may wait on the broker (an alarm), the acks must not.
        order = sorted(range(len(steps)), key=lambda i: steps[i].error is not None)
        for i in order:
            delivery, inbound = batch[i]
            with log_context(consumer, inbound):
                settled[i] = await self._conclude(consumer, delivery, steps[i])
        outcomes = [settled[i] for i in range(len(steps))]
        seconds = time.perf_counter() - started  # what each message waited for: the whole batch
        for _ in batch:
            self.metrics.handler_seconds.labels(consumer.name).observe(seconds)
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
            outcome = await self._conclude(consumer, delivery, step)
        finally:
            structlog.contextvars.clear_contextvars()
        self.metrics.handler_seconds.labels(consumer.name).observe(time.perf_counter() - started)
        return outcome

    async def _conclude(
        self, consumer: Consumer, delivery: AbstractIncomingMessage, step: Step
    ) -> Outcome:
        """Ack an applied or duplicate message (its transaction committed); retry or dead-letter
        a failed one."""
        if step.error is not None:
            outcome = await self._fail(consumer, delivery, step.error)
        else:
            outcome = Outcome.DUPLICATE if step.applied is None else Outcome.APPLIED
            await _settled(delivery.ack())
            if outcome is Outcome.APPLIED and step.received_at is not None:
                lag = (datetime.now(UTC) - step.received_at).total_seconds()
                self.metrics.end_to_end_seconds.labels(consumer.name).observe(max(lag, 0.0))
            # A line per applied message costs about as much as a round trip, at every level
            # (structlog builds the event before the level is checked): the handler's own line
            # (e.g. sale.applied) says what changed. Duplicates stay visible at info.
            if outcome is Outcome.DUPLICATE:
                log.info("message.acked", outcome=outcome.value)
            elif _stdlib_log.isEnabledFor(logging.DEBUG):
                log.debug("message.acked", outcome=outcome.value)
        self.metrics.messages.labels(consumer.name, outcome.value).inc()
        return outcome

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
            routing_key=_original_key(headers, delivery),
            topology=self.topology,
            settings=self.deps.settings,
            now=datetime.now(UTC),
        )
        _log_decision(decision, error)
        try:
            if self.publisher is not None:
                await self.publisher.copy(delivery, decision.queue, decision.headers)
            else:
                await publish_copy(
                    self.channel.default_exchange, delivery, decision.queue, decision.headers
                )
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            log.warning("message.requeued", reason="republish failed", error=type(exc).__name__)
            await _settled(delivery.nack(requeue=True))
            return Outcome.REQUEUED
        await _settled(delivery.ack())
        return Outcome.DEAD_LETTERED if decision.dead else Outcome.RETRIED

    async def _hold(
        self, consumer: Consumer, delivery: AbstractIncomingMessage, *, counted: bool = True
    ) -> Outcome:
        """Back to the queue, unacked and with no attempt spent, while a dependency is down."""
        await _settled(delivery.nack(requeue=True))
        if counted:  # `_conclude` counts the outcomes of the messages it was given
            self.metrics.messages.labels(consumer.name, Outcome.PAUSED.value).inc()
        return Outcome.PAUSED


def _order_id(delivery: AbstractIncomingMessage) -> int | None:
    """The order a delivery is about, for a probe of TEvo's API; None when it is no order."""
    inbound = _decoded(delivery)
    if inbound is None:
        return None
    try:
        return inbound.order().id
    except ContractViolation:
        return None


def _decoded(delivery: AbstractIncomingMessage) -> Inbound | None:
    try:
        return decode(delivery)
    except ContractViolation:
        return None  # `handle` dead-letters it, saying why


def _lock_order(consumer: Consumer, inbound: Inbound) -> tuple[int, str]:
    """Where a message goes in its batch: by what its handler locks, then by its id (so the
    inbox rows, too, are always written in one order); -1 when its body has no such key (the
    handler rejects it)."""
    try:
        return consumer.lock_key(inbound), inbound.message_id
    except ContractViolation:
        return -1, inbound.message_id


def _original_key(headers: dict[str, Any], delivery: AbstractIncomingMessage) -> str:
    """The routing key the webhook was first published under, also after a trip to a delay queue."""
    recipient, event_type = headers.get(h.HEADER_RECIPIENT), headers.get(h.HEADER_EVENT_TYPE)
    if isinstance(recipient, str) and isinstance(event_type, str):
        return routing_key(recipient, event_type)
    return delivery.routing_key or ""


async def _settled(settling: Awaitable[object]) -> None:
    """Await an ack or nack; on a channel that just died, the broker redelivers (the inbox
    absorbs the copy), so that is logged, not raised."""
    try:
        await settling
    except CONNECTION_EXCEPTIONS as exc:
        log.warning("message.settle_failed", error=type(exc).__name__)


def _log_batch_failure(exc: Exception, size: int) -> None:
    error = translate(exc)
    if error is None:
        log.error("batch.failed", size=size, error_type=type(exc).__name__, exc_info=exc)
    else:
        log.warning("batch.failed", size=size, error_type=type(error).__name__, error=str(error))


def _log_decision(decision: Decision, error: ProcessingError) -> None:
    text = str(error)[:MAX_ERROR_TEXT]
    if decision.dead:
        log.error(
            "message.dead_lettered",
            reason=decision.reason,
            error_type=type(error).__name__,
            error=text,
            attempts=decision.attempts,
        )
    else:
        log.warning(
            "message.retry_scheduled",
            error_type=type(error).__name__,
            error=text,
            attempt=decision.attempts,
            delay_s=decision.delay_s,
        )
