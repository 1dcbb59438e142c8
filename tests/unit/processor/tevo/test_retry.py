"""Retries of TEvo API calls: which answers retry, how long each wait is, when it gives up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from processor.errors import (
    Permanent,
    Retryable,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from processor.tevo.api import read_reply
from processor.tevo.retry import Reply, RetryPolicy, parse_retry_after, send_with_retries

NOW = datetime(2026, 11, 20, 18, 0, 0, tzinfo=UTC)


class FakeClock:
    """Records every wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def scripted(*answers: Reply | Exception) -> tuple[Callable[[], Awaitable[Reply]], list[int]]:
    """A `send` that gives `answers` in turn, and the list of calls it counts."""
    calls: list[int] = []

    async def send() -> Reply:
        answer = answers[len(calls)]
        calls.append(1)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return send, calls


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=5.0)
    assert [policy.delay(n, now=NOW) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(10, now=NOW) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        (" 4 ", 4.0),
        ("Fri, 20 Nov 2026 18:00:03 GMT", 3.0),
        ("Fri, 20 Nov 2026 17:59:00 GMT", 0.0),
        ("soon", 0.5),  # unusable: plain backoff
        ("60", None),  # more than the bound: give up now, the message's own retry comes back
    ],
)
def test_retry_after_is_honoured_within_the_bound(header: str, expected: float | None) -> None:
    assert RetryPolicy(max_delay=5.0).delay(1, header, now=NOW) == expected


def test_parse_retry_after_without_a_header() -> None:
    assert parse_retry_after(None, NOW) is None


async def test_a_5xx_is_retried_until_an_answer_comes() -> None:
    clock = FakeClock()
    send, calls = scripted(Reply(503), Reply(502), Reply(200, body=b"{}"))
    reply = await send_with_retries(send, RetryPolicy(attempts=3), clock.sleep, "GET /orders/1")
    assert reply.status == 200
    assert len(calls) == 3
    assert clock.waits == [0.5, 1.0]


async def test_an_outage_gives_up_after_the_attempts_as_retryable() -> None:
    clock = FakeClock()
    send, calls = scripted(Reply(503), Reply(503), Reply(503), Reply(200))
    with pytest.raises(UpstreamUnavailable, match=r"HTTP 503 after 3 attempt"):
        await send_with_retries(send, RetryPolicy(attempts=3), clock.sleep, "GET /orders/1")
    assert len(calls) == 3
    assert clock.waits == [0.5, 1.0]


async def test_network_failures_are_retried_like_a_5xx() -> None:
    clock = FakeClock()
    send, calls = scripted(UpstreamUnavailable("ClientConnectorError"), Reply(200, body=b"{}"))
    reply = await send_with_retries(send, RetryPolicy(attempts=3), clock.sleep, "GET /orders")
    assert reply.status == 200
    assert len(calls) == 2


async def test_a_429_waits_what_retry_after_asks() -> None:
    clock = FakeClock()
    send, _calls = scripted(Reply(429, retry_after="2"), Reply(200, body=b"{}"))
    await send_with_retries(send, RetryPolicy(attempts=3), clock.sleep, "GET /orders")
    assert clock.waits == [2.0]


async def test_a_429_asking_too_long_a_wait_gives_up_at_once() -> None:
    clock = FakeClock()
    send, calls = scripted(Reply(429, retry_after="120"), Reply(200))
    with pytest.raises(UpstreamUnavailable, match="HTTP 429"):
        await send_with_retries(send, RetryPolicy(attempts=3), clock.sleep, "GET /orders")
    assert len(calls) == 1
    assert clock.waits == []


@pytest.mark.parametrize("status", [200, 401, 403, 404, 400, 422])
async def test_other_answers_are_final_at_once(status: int) -> None:
    clock = FakeClock()
    send, calls = scripted(Reply(status), Reply(200))
    reply = await send_with_retries(send, RetryPolicy(attempts=3), clock.sleep, "GET /orders")
    assert reply.status == status
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(401), UpstreamUnauthorized),
        (Reply(403), UpstreamUnauthorized),
        (Reply(400), UpstreamRejected),
        (Reply(302), UpstreamUnavailable),
        (Reply(200, body=b"<html>maintenance</html>"), UpstreamUnavailable),
    ],
)
def test_final_answers_become_our_errors(reply: Reply, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_reply(reply, "GET /orders/1")


def test_a_404_means_no_such_order_and_json_is_decoded() -> None:
    assert read_reply(Reply(404), "GET /orders/1") is None
    assert read_reply(Reply(200, body=b'{"id": 1}'), "GET /orders/1") == {"id": 1}


def test_refused_credentials_retry_and_a_malformed_request_does_not() -> None:
    # A rotated secret must not dead-letter every sale at once; a bad request never heals.
    assert issubclass(UpstreamUnauthorized, Retryable)
    assert issubclass(UpstreamUnavailable, Retryable)
    assert issubclass(UpstreamRejected, Permanent)
