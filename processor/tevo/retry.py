"""Retrying one call to TEvo's API: which answers to retry, how long to wait, when to stop.

Pure policy and a loop over an injected `send` and `sleep`, so the unit tests drive it with
scripted answers and a fake clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import structlog

from processor.errors import UpstreamUnavailable
from processor.settings import API_MAX_RETRY_WAIT

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    """What one HTTP exchange gave back, before we decide what it means."""

    status: int
    retry_after: str | None = None
    body: bytes = b""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one call is retried.

    The defaults keep a call well inside the processor's handler timeout: 3 attempts of at
    most `api_timeout` seconds, 0.5 s and 1 s apart, or what `Retry-After` asks up to 5 s.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = API_MAX_RETRY_WAIT

    def delay(
        self, attempt: int, retry_after: str | None = None, now: datetime | None = None
    ) -> float | None:
        """Seconds to wait after failed attempt `attempt` (1-based), or None to give up now."""
        if attempt >= self.attempts:
            return None
        asked = parse_retry_after(retry_after, now or datetime.now(UTC))
        if asked is None:
            return min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        # Waiting less than TEvo asked only earns another 429, and waiting longer would hold the
        # message past its handler timeout: give up, and let the message's own retry come back.
        return asked if asked <= self.max_delay else None


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


async def send_with_retries(
    send: Callable[[], Awaitable[Reply]], policy: RetryPolicy, sleep: Sleep, what: str
) -> Reply:
    """Call `send` until TEvo answers other than 5xx or 429, within `policy`.

    `send` raises `UpstreamUnavailable` when no answer came (refused, reset, timed out).
    """
    attempt = 0
    while True:
        attempt += 1
        retry_after = None
        try:
            reply = await send()
        except UpstreamUnavailable as exc:
            failure = str(exc)
        else:
            if not _retryable(reply.status):
                return reply
            failure, retry_after = f"HTTP {reply.status}", reply.retry_after
        delay = policy.delay(attempt, retry_after)
        if delay is None:
            raise UpstreamUnavailable(f"TEvo API {what}: {failure} after {attempt} attempt(s)")
        log.warning("tevo_api.retry", request=what, failure=failure, attempt=attempt, delay_s=delay)
        await sleep(delay)
