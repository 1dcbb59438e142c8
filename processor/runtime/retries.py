"""Where a failed message goes next, a delay queue or its dead-letter queue, and the headers why.

Which error goes where is the table in `processor.runtime.dispatch`; this module computes the
route. Attempts are counted in the message's own `attempts` header, so the count survives every
trip through a delay queue and every processor restart; the last tier of `TEVO_RETRY_DELAYS`
repeats. A replayed dead letter loses every failure header, so it gets the whole budget again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage

from contracts import envelope as h
from contracts import routing_key as key_of
from contracts.topology import RETRY_QUEUE_HEADER, Topology
from processor.errors import ProcessingError, Retryable
from processor.settings import ProcessorSettings

log = structlog.get_logger(__name__)

PERMANENT_FAILURE = "permanent_failure"
RETRIES_EXHAUSTED = "retries_exhausted"
# The broker's own reason (x-death) when a message hit the queue's x-delivery-limit.
DELIVERY_LIMIT = "delivery_limit"

MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class Decision:
    """Publish a copy with `headers` to `queue`, then ack the original."""

    queue: str
    headers: dict[str, Any]
    attempts: int
    delay_s: int | None = None  # set when the message is retried
    reason: str | None = None  # set when it is dead-lettered

    @property
    def dead(self) -> bool:
        return self.reason is not None


def decide(
    error: ProcessingError,
    headers: dict[str, Any],
    *,
    consumer: str,
    routing_key: str,
    topology: Topology,
    settings: ProcessorSettings,
    now: datetime,
) -> Decision:
    """The next stop of a message of `consumer` that failed with `error`."""
    attempts = attempts_made(headers) + 1
    stamped = {
        **headers,
        h.HEADER_ATTEMPTS: attempts,
        h.HEADER_FIRST_FAILED_AT: headers.get(h.HEADER_FIRST_FAILED_AT) or now.isoformat(),
        h.HEADER_LAST_FAILED_AT: now.isoformat(),
        h.HEADER_ERROR_TYPE: type(error).__name__,
        h.HEADER_ERROR_MESSAGE: str(error)[:MAX_ERROR_TEXT],
        h.HEADER_CONSUMER: consumer,
    }
    stamped.setdefault(h.HEADER_ORIGINAL_ROUTING_KEY, routing_key)
    if isinstance(error, Retryable) and attempts < settings.retry_max_attempts:
        delay = settings.retry_delay(attempts)
        stamped[RETRY_QUEUE_HEADER] = topology.consumer_queue(consumer)
        stamped.pop(h.HEADER_DEAD_LETTER_REASON, None)
        return Decision(topology.delay_queue(delay), stamped, attempts, delay_s=delay)
    reason = RETRIES_EXHAUSTED if isinstance(error, Retryable) else PERMANENT_FAILURE
    stamped[h.HEADER_DEAD_LETTER_REASON] = reason
    stamped.pop(RETRY_QUEUE_HEADER, None)
    return Decision(topology.dead_letter_queue(consumer), stamped, attempts, reason=reason)


def attempts_made(headers: dict[str, Any]) -> int:
    """Failed attempts so far; a missing or garbled header counts as none."""
    value = headers.get(h.HEADER_ATTEMPTS)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return 0


def fresh_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """The headers a replayed dead letter travels under: the envelope's, no failure history.

    `x-` headers are the broker's (x-death, x-delivery-count, x-first-death-*): carried along
    they would describe a past the message is being given a clean start from.
    """
    dropped = {*h.FAILURE_HEADERS, RETRY_QUEUE_HEADER}
    return {k: v for k, v in headers.items() if k not in dropped and not k.startswith("x-")}


def dead_letter_reason(headers: dict[str, Any]) -> str:
    """Why a dead letter is dead: our header, else the broker's x-death reason."""
    reason = headers.get(h.HEADER_DEAD_LETTER_REASON)
    if isinstance(reason, str) and reason:
        return reason
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        broker_reason = deaths[0].get("reason")
        if isinstance(broker_reason, str | bytes):
            return broker_reason if isinstance(broker_reason, str) else broker_reason.decode()
    return "unknown"


def original_key(headers: dict[str, Any], delivery: AbstractIncomingMessage) -> str:
    """The routing key the webhook was first published under, also after a trip to a delay
    queue."""
    recipient, event_type = headers.get(h.HEADER_RECIPIENT), headers.get(h.HEADER_EVENT_TYPE)
    if isinstance(recipient, str) and isinstance(event_type, str):
        return key_of(recipient, event_type)
    return delivery.routing_key or ""


def log_decision(decision: Decision, error: ProcessingError) -> None:
    """One line per failure: where the message goes next, and why."""
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
