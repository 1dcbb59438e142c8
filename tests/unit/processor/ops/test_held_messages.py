"""How old a held message is: its last failure, else its arrival, else nothing to go by."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage

from contracts import envelope as h
from processor.ops.held_messages import held_since


@dataclass
class Held:
    headers: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime | None = None


def _since(message: Held) -> datetime | None:
    return held_since(cast(AbstractIncomingMessage, message))


def test_a_dead_letter_is_as_old_as_its_last_failure() -> None:
    headers = {
        h.HEADER_RECEIVED_AT: "2026-01-01T00:00:00+00:00",
        h.HEADER_LAST_FAILED_AT: b"2026-03-01T00:00:00+00:00",
    }
    assert _since(Held(headers)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_an_unrouted_message_is_as_old_as_its_arrival_naive_times_being_utc() -> None:
    assert _since(Held({h.HEADER_RECEIVED_AT: "2026-01-01T00:00:00"})) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_a_message_that_says_nothing_usable_has_no_age() -> None:
    assert _since(Held({h.HEADER_LAST_FAILED_AT: "yesterday", h.HEADER_RECEIVED_AT: 5})) is None
    stamped = Held(timestamp=datetime(2026, 2, 1))  # noqa: DTZ001 - AMQP timestamps come naive
    assert _since(stamped) == datetime(2026, 2, 1, tzinfo=UTC)
