"""The dead-letter filter: reason or error type, time of the last failure, order, message id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from contracts import envelope as h
from processor.ops.dead_letter_filter import Filter, order_ids

HEADERS = {
    h.HEADER_DEAD_LETTER_REASON: "permanent_failure",
    h.HEADER_ERROR_TYPE: "ContractViolation",
    h.HEADER_LAST_FAILED_AT: "2026-12-07T12:00:00+00:00",
    h.HEADER_ORDER_GROUP_ID: 4606857,
}
BODY = json.dumps({"id": "10324712", "total": "x"}).encode()


def _matches(matching: Filter, headers: dict[str, object] = HEADERS, body: bytes = BODY) -> bool:
    return matching.matches(dict(headers), body, "m-1")


def test_everything_matches_the_empty_filter() -> None:
    assert Filter().everything
    assert _matches(Filter())
    assert _matches(Filter(), {}, b"not json")


def test_reason_matches_the_dead_letter_reason_or_the_error_type() -> None:
    assert _matches(Filter(reason="permanent_failure"))
    assert _matches(Filter(reason="ContractViolation"))
    assert not _matches(Filter(reason="retries_exhausted"))


def test_order_matches_the_order_id_in_the_body_or_the_group_in_the_headers() -> None:
    assert order_ids(HEADERS, BODY) == {4606857, 10324712}
    assert _matches(Filter(order=10324712))
    assert _matches(Filter(order=4606857))
    assert not _matches(Filter(order=1))
    assert order_ids({}, b"[1, 2]") == set()
    # a boolean where a number belongs names no order
    assert order_ids({h.HEADER_ORDER_GROUP_ID: b"12"}, b'{"id": true}') == {12}


def test_time_bounds_take_the_last_failure_and_want_one() -> None:
    noon = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert _matches(Filter(since=noon))
    assert not _matches(Filter(until=noon))
    assert _matches(Filter(until=noon.replace(hour=13)))
    assert not _matches(Filter(since=noon.replace(hour=13)))
    assert not _matches(Filter(since=noon), {h.HEADER_LAST_FAILED_AT: "garbage"})


def test_message_ids_pick_those_only() -> None:
    assert _matches(Filter(message_ids=frozenset({"m-1", "m-2"})))
    assert not _matches(Filter(message_ids=frozenset({"m-2"})))
