"""The one place that decides a message's outcome, and the one table saying which.

For each delivery: decode it (once), apply it in a Postgres transaction
(`processor.runtime.transaction`: handler, inbox, history), commit, and only then ack. A batch
(`handle_batch`) applies several deliveries of one consumer in one transaction, a savepoint
each, and acks the committed ones together (`processor.runtime.acks`); a single delivery is a
batch of one. Every republish (to a delay or dead-letter queue) waits for RabbitMQ's confirm
before the original is acked, so a crash in between duplicates a message (which the inbox
absorbs) but never loses one.

What happens to error X (the errors are `processor.errors`'; asyncpg's are translated there,
aiohttp's in `processor.tevo.api`, anything else counts as a `Retryable` "unexpected <type>"):

    Error (or event)                 Outcome
    -------------------------------  ------------------------------------------------------------
    none: applied, or a duplicate    ack, after the commit
    ContractViolation (body or       dead letter at once, reason `permanent_failure`
      headers), UpstreamRejected,
      any other Permanent
    Retryable, incl. an unexpected   delay: a copy to the delay queue of its attempt's tier
      exception and a single         (`TEVO_RETRY_DELAYS`), then ack; dead letter
      message's Conflict             `retries_exhausted` once `TEVO_RETRY_MAX_ATTEMPTS` failed
    UpstreamUnauthorized             delay (one setting for every message: the retry schedule
                                     gives an operator the time to fix it)
    DatabaseUnavailable              pause when a probe of Postgres fails too: nack (no attempt
                                     spent), stop consuming, probe until it answers
                                     (`processor.runtime.pause`); else delay
    UpstreamUnavailable              pause when verification is on and a probe of TEvo fails
                                     too; else delay
    NeedsVerification                none here: the transaction fetches TEvo's answer outside
                                     and applies the message again (asked twice: Retryable)
    the batch fails whole (Database- batch split: nothing was committed; each message is applied
      Unavailable, Conflict, a       again in a batch of its own and takes its own row above
      timeout, the commit)
    the delay or dead-letter copy    requeue: nack, the broker redelivers
      is not confirmed in time
    anything, while paused           requeue: nack, no attempt spent
    20 deliveries of one message     the broker dead-letters it (`x-delivery-limit`), reason
      (e.g. a crash loop)            `delivery_limit`
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
from processor.errors import ContractViolation, ProcessingError, translate
from processor.handler import Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.notify import Tell
from processor.runtime.acks import Acks
from processor.runtime.dead_letter_notice import dead_letter_notice
from processor.runtime.message import batch_position, decoded, log_context
from processor.runtime.pause import Pause, outage_probe
from processor.runtime.republish import Publisher, publish_copy
from processor.runtime.retries import decide, log_decision, original_key
from processor.runtime.transaction import Applier, Step, classify

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)


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
    notify: Tell | None = None  # told of each dead letter, never waited on (TEVO_NOTIFY_URL)
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
        pairs = [(delivery, decoded(delivery)) for delivery in deliveries]  # decoded once
        batch = [(d, inbound) for d, inbound in pairs if isinstance(inbound, Inbound)]
        if len(batch) < 2:
            return [await self._alone(consumer, d, inbound) for d, inbound in pairs]
        batch.sort(key=lambda pair: batch_position(consumer, pair[1]))
        started = time.perf_counter()
        try:
            steps = await self.applier.apply(consumer, [inbound for _, inbound in batch])
        except Exception as exc:  # noqa: BLE001 - nothing was committed: each message gets its own try below
            _log_batch_failure(exc, len(batch))
            self.metrics.batch_fallbacks.labels(consumer.name).inc()
            return [await self._alone(consumer, d, inbound) for d, inbound in pairs]
        outcomes = await self._settle(consumer, batch, steps)
        seconds = time.perf_counter() - started  # what each message waited for: the whole batch
        observe = self.metrics.handler_seconds.labels(consumer.name).observe
        for _ in batch:
            observe(seconds)
        undecodable = [(d, inbound) for d, inbound in pairs if not isinstance(inbound, Inbound)]
        return outcomes + [await self._alone(consumer, d, error) for d, error in undecodable]

    async def _alone(
        self,
        consumer: Consumer,
        delivery: AbstractIncomingMessage,
        inbound: Inbound | ContractViolation,
    ) -> Outcome:
        """One delivery (`inbound`: decoded, or why it could not be) in a batch of its own,
        whose failure is that message's."""
        if self.pause.active:
            return await self._hold(consumer, delivery)
        started = time.perf_counter()
        with log_context(consumer, inbound, delivery.message_id):
            if isinstance(inbound, ContractViolation):
                outcome = await self._fail(consumer, delivery, inbound, inbound)
            else:
                try:
                    (step,) = await self.applier.apply(consumer, [inbound])
                except Exception as exc:  # noqa: BLE001 - every error is mapped to retry or dead-letter right here
                    step = Step(error=classify(exc))
                if step.error is not None:
                    outcome = await self._fail(consumer, delivery, step.error, inbound)
                else:
                    await self.acks.ack([delivery])
                    outcome = self._acked(consumer, inbound, step, datetime.now(UTC))
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
                    outcomes[i] = await self._fail(consumer, delivery, step.error, inbound)
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
        self,
        consumer: Consumer,
        delivery: AbstractIncomingMessage,
        error: ProcessingError,
        inbound: Inbound | ContractViolation,
    ) -> Outcome:
        if self.pause.active:
            return await self._hold(consumer, delivery, counted=False)
        probe = outage_probe(error, self.pool, self.deps.tevo_api, _order_id(inbound))
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
        if decision.dead and self.notify is not None:
            base = self.deps.settings.console_base_url
            self.notify(dead_letter_notice(base, consumer.name, delivery, decision, error))
        return Outcome.DEAD_LETTERED if decision.dead else Outcome.RETRIED

    async def _hold(
        self, consumer: Consumer, delivery: AbstractIncomingMessage, *, counted: bool = True
    ) -> Outcome:
        """Back to the queue, unacked and with no attempt spent, while a dependency is down."""
        await self.acks.nack(delivery)
        if counted:  # `_settle` and `_alone` count the outcomes of the messages they were given
            self.metrics.messages.labels(consumer.name, Outcome.PAUSED.value).inc()
        return Outcome.PAUSED


def _order_id(inbound: Inbound | ContractViolation) -> int | None:
    """The order a message is about, for a probe of TEvo's API; None when it is no order."""
    if isinstance(inbound, ContractViolation):
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
