"""The retry/dead-letter decision: attempt counting, delay tiers, reasons and headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import envelope as h
from contracts.topology import RETRY_QUEUE_HEADER, Topology
from processor.errors import Conflict, ContractViolation, DatabaseUnavailable, Permanent, Retryable
from processor.runtime.retries import (
    PERMANENT_FAILURE,
    RETRIES_EXHAUSTED,
    Decision,
    attempts_made,
    dead_letter_reason,
    decide,
    fresh_headers,
)
from processor.settings import ProcessorSettings

TOPOLOGY = Topology("ns")
SETTINGS = ProcessorSettings(retry_delays=(1, 10, 60), retry_max_attempts=5)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ENVELOPE = {"recipient": "seller", "event_type": "order_created", "order_group_id": 4606857}


def _decide(
    error: Exception, headers: dict[str, Any] | None = None, now: datetime = NOW
) -> Decision:
    assert isinstance(error, Retryable | Permanent)
    return decide(
        error,
        dict(ENVELOPE if headers is None else headers),
        consumer="seller.order_created",
        routing_key="seller.order_created",
        topology=TOPOLOGY,
        settings=SETTINGS,
        now=now,
    )


def _fail_n_times(error: Exception, times: int) -> list[Decision]:
    decisions, headers = [], dict(ENVELOPE)
    for n in range(times):
        decision = _decide(error, headers, NOW + timedelta(seconds=n))
        decisions.append(decision)
        headers = decision.headers
    return decisions


def test_a_retryable_failure_waits_out_growing_delays_then_dies() -> None:
    decisions = _fail_n_times(DatabaseUnavailable("ConnectionRefusedError"), 5)
    assert [d.attempts for d in decisions] == [1, 2, 3, 4, 5]
    assert [d.delay_s for d in decisions] == [1, 10, 60, 60, None]  # the last tier repeats
    assert [d.queue for d in decisions] == [
        "ns.delay.1s",
        "ns.delay.10s",
        "ns.delay.60s",
        "ns.delay.60s",
        "ns.seller.order_created.dead",
    ]
    assert [d.dead for d in decisions] == [False, False, False, False, True]
    assert decisions[-1].reason == RETRIES_EXHAUSTED


def test_a_retry_names_the_queue_it_returns_to_and_a_dead_letter_does_not() -> None:
    retry, *_, dead = _fail_n_times(Conflict("SerializationError (sqlstate 40001)"), 5)
    assert retry.headers[RETRY_QUEUE_HEADER] == "ns.seller.order_created"
    assert h.HEADER_DEAD_LETTER_REASON not in retry.headers
    assert RETRY_QUEUE_HEADER not in dead.headers
    assert dead.headers[h.HEADER_DEAD_LETTER_REASON] == RETRIES_EXHAUSTED


@pytest.mark.parametrize(
    "error", [ContractViolation("body is not an order: id: Field required"), Permanent("DataError")]
)
def test_a_permanent_failure_dies_at_the_first_attempt(error: Exception) -> None:
    decision = _decide(error)
    assert decision.dead
    assert decision.reason == PERMANENT_FAILURE
    assert decision.attempts == 1
    assert decision.queue == "ns.seller.order_created.dead"


def test_failure_headers_say_what_happened_and_keep_the_envelope() -> None:
    first, second = _fail_n_times(Conflict("DeadlockDetectedError (sqlstate 40P01)"), 2)
    headers = second.headers
    assert headers[h.HEADER_ATTEMPTS] == 2
    assert headers[h.HEADER_FIRST_FAILED_AT] == NOW.isoformat()
    assert headers[h.HEADER_LAST_FAILED_AT] == (NOW + timedelta(seconds=1)).isoformat()
    assert headers[h.HEADER_ERROR_TYPE] == "Conflict"
    assert headers[h.HEADER_ERROR_MESSAGE] == "DeadlockDetectedError (sqlstate 40P01)"
    assert headers[h.HEADER_CONSUMER] == "seller.order_created"
    assert headers[h.HEADER_ORIGINAL_ROUTING_KEY] == "seller.order_created"
    assert {k: headers[k] for k in ENVELOPE} == ENVELOPE
    assert first.headers[h.HEADER_FIRST_FAILED_AT] == headers[h.HEADER_FIRST_FAILED_AT]


def test_the_first_routing_key_survives_the_trip_through_a_delay_queue() -> None:
    headers = {**ENVELOPE, h.HEADER_ORIGINAL_ROUTING_KEY: "seller.order_created"}
    decision = decide(
        Conflict("x"),
        headers,
        consumer="seller.order_created",
        routing_key="ns.delay.1s",  # what a delivery back from a delay queue carries
        topology=TOPOLOGY,
        settings=SETTINGS,
        now=NOW,
    )
    assert decision.headers[h.HEADER_ORIGINAL_ROUTING_KEY] == "seller.order_created"


def test_error_text_is_bounded() -> None:
    decision = _decide(ContractViolation("x" * 5000))
    assert len(decision.headers[h.HEADER_ERROR_MESSAGE]) == 500


def test_one_attempt_in_all_dead_letters_even_a_retryable_failure() -> None:
    settings = ProcessorSettings(retry_delays=(1,), retry_max_attempts=1)
    decision = decide(
        DatabaseUnavailable("TimeoutError"),
        dict(ENVELOPE),
        consumer="c",
        routing_key="k",
        topology=TOPOLOGY,
        settings=settings,
        now=NOW,
    )
    assert decision.reason == RETRIES_EXHAUSTED


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0), (3, 3), ("4", 4), (b"2", 2), ("two", 0), (-1, 0), (True, 0), (1.5, 0)],
)
def test_attempts_made_reads_what_the_header_holds(value: object, expected: int) -> None:
    assert attempts_made({} if value is None else {h.HEADER_ATTEMPTS: value}) == expected


def test_a_replayed_message_starts_with_a_clean_slate() -> None:
    *_, dead = _fail_n_times(DatabaseUnavailable("OSError"), 5)
    broker_headers = {"x-death": [{"reason": "expired"}], "x-delivery-count": 3}
    fresh = fresh_headers({**dead.headers, **broker_headers})
    assert fresh == ENVELOPE
    assert _decide(DatabaseUnavailable("OSError"), fresh).attempts == 1


def test_dead_letter_reason_falls_back_to_the_brokers() -> None:
    assert dead_letter_reason({h.HEADER_DEAD_LETTER_REASON: PERMANENT_FAILURE}) == (
        PERMANENT_FAILURE
    )
    assert dead_letter_reason({"x-death": [{"reason": "delivery_limit"}]}) == "delivery_limit"
    assert dead_letter_reason({}) == "unknown"
