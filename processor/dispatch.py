"""The one place that decides a message's outcome.

For each delivery: decode it, open a Postgres transaction, record its `message_id` in the inbox
(a second copy stops here), run the consumer's handler, write its history row, commit, and only
then ack. Failures follow `processor.errors`: a `Retryable` goes to a delay queue and comes back,
until its attempts run out; a `Permanent` is dead-lettered at once with the reason in its headers.
Every republish waits for RabbitMQ's confirm before the original is acked, so a crash in between
duplicates a message (which the inbox absorbs) but never loses one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from contracts import envelope as h
from contracts import message_id, routing_key
from contracts.topology import Topology
from processor.errors import ContractViolation, Permanent, ProcessingError, Retryable, translate
from processor.handling import Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.retries import MAX_ERROR_TEXT, Decision, decide

log = structlog.get_logger("processor.dispatch")

PUBLISH_TIMEOUT = 10.0

INBOX_SQL = """
INSERT INTO pos.inbox (consumer, message_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING RETURNING true
"""
HISTORY_SQL = """
INSERT INTO pos.order_history (tevo_order_id, order_group_id, recipient, event_type, message_id,
                               consumer, state, note, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    REQUEUED = "requeued"  # could not even reach the broker to retry; the broker redelivers


def decode(delivery: AbstractIncomingMessage) -> Inbound:
    """The delivery as an `Inbound`; headers that break the contract are a `ContractViolation`."""
    headers: dict[str, Any] = dict(delivery.headers or {})
    recipient, event_type = headers.get(h.HEADER_RECIPIENT), headers.get(h.HEADER_EVENT_TYPE)
    if not isinstance(recipient, str) or not isinstance(event_type, str):
        raise ContractViolation("headers recipient and event_type are required")
    try:
        group = _optional_int(headers.get(h.HEADER_ORDER_GROUP_ID))
        event_id = _optional_int(headers.get(h.HEADER_EVENT_ID))
        received = headers.get(h.HEADER_RECEIVED_AT)
        received_at = datetime.fromisoformat(received) if isinstance(received, str) else None
    except (TypeError, ValueError) as exc:
        raise ContractViolation(f"bad header: {exc}") from None
    body = delivery.body
    return Inbound(
        message_id=delivery.message_id or message_id(recipient, event_type, group, body),
        recipient=recipient,
        event_type=event_type,
        body=body,
        order_group_id=group,
        event_id=event_id,
        received_at=received_at,
        headers=headers,
    )


def _optional_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)


@dataclass
class Dispatcher:
    pool: asyncpg.Pool
    channel: AbstractChannel
    topology: Topology
    deps: Deps
    metrics: ProcessorMetrics

    async def handle(self, consumer: Consumer, delivery: AbstractIncomingMessage) -> Outcome:
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(
            consumer=consumer.name, message_id=delivery.message_id
        )
        try:
            outcome = await self._handle(consumer, delivery)
        finally:
            structlog.contextvars.clear_contextvars()
        self.metrics.messages.labels(consumer.name, outcome.value).inc()
        self.metrics.handler_seconds.labels(consumer.name).observe(time.perf_counter() - started)
        return outcome

    async def _handle(self, consumer: Consumer, delivery: AbstractIncomingMessage) -> Outcome:
        try:
            inbound = decode(delivery)
            structlog.contextvars.bind_contextvars(
                event_type=inbound.event_type, order_group_id=inbound.order_group_id
            )
            outcome = await self.apply(consumer, inbound)
        except Exception as exc:  # noqa: BLE001 - every error is mapped to retry or dead-letter right here
            return await self._fail(consumer, delivery, _classify(exc))
        await _settle(delivery.ack())
        if outcome is Outcome.APPLIED and inbound.received_at is not None:
            lag = (datetime.now(UTC) - inbound.received_at).total_seconds()
            self.metrics.end_to_end_seconds.labels(consumer.name).observe(max(lag, 0.0))
        log.info("message.acked", outcome=outcome.value)
        return outcome

    async def apply(self, consumer: Consumer, inbound: Inbound) -> Outcome:
        """Apply one message in one transaction; `DUPLICATE` when the inbox already has it."""
        async with (
            asyncio.timeout(self.deps.settings.handler_timeout),
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            if not await conn.fetchval(INBOX_SQL, consumer.name, inbound.message_id):
                return Outcome.DUPLICATE
            applied = await consumer.handle(inbound, conn, self.deps)
            if applied is not None:
                await conn.execute(
                    HISTORY_SQL,
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
        if applied is not None:
            self.metrics.count_created(consumer.name, applied.created)  # committed: count it
        return Outcome.APPLIED

    async def _fail(
        self, consumer: Consumer, delivery: AbstractIncomingMessage, error: ProcessingError
    ) -> Outcome:
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
            await self.republish(delivery, decision.headers, decision.queue)
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            log.warning("message.requeued", reason="republish failed", error=type(exc).__name__)
            await _settle(delivery.nack(requeue=True))
            return Outcome.REQUEUED
        await _settle(delivery.ack())
        return Outcome.DEAD_LETTERED if decision.dead else Outcome.RETRIED

    async def republish(
        self, delivery: AbstractIncomingMessage, headers: dict[str, Any], queue: str
    ) -> None:
        """Publish a copy of `delivery` to `queue` and wait for the broker's confirm."""
        message = aio_pika.Message(
            delivery.body,
            headers=headers,
            message_id=delivery.message_id,
            content_type=delivery.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=delivery.timestamp,
            app_id=delivery.app_id,
        )
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await self.channel.default_exchange.publish(message, queue, mandatory=True)


def _classify(exc: Exception) -> ProcessingError:
    known = translate(exc)
    if known is not None:
        return known
    # A bug or an unforeseen failure: retried like a transient one (it may be), and dead-lettered
    # with its type once the attempts run out, so it is visible and never a crash loop.
    log.error("message.unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    return Retryable(f"unexpected {type(exc).__name__}")


def _note(note: str, inbound: Inbound) -> str:
    # History shows a message that was not a webhook, e.g. "sale recorded (via reconcile)".
    source = inbound.headers.get(h.HEADER_SOURCE)
    return f"{note} (via {source})" if isinstance(source, str) and source else note


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


def _original_key(headers: dict[str, Any], delivery: AbstractIncomingMessage) -> str:
    recipient, event_type = headers.get(h.HEADER_RECIPIENT), headers.get(h.HEADER_EVENT_TYPE)
    if isinstance(recipient, str) and isinstance(event_type, str):
        return routing_key(recipient, event_type)
    return delivery.routing_key or ""


async def _settle(settling: Any) -> None:
    # An ack or nack on a channel that just died: the broker redelivers, the inbox absorbs it.
    try:
        await settling
    except CONNECTION_EXCEPTIONS as exc:
        log.warning("message.settle_failed", error=type(exc).__name__)


__all__ = ["Dispatcher", "Outcome", "Permanent", "decode"]
