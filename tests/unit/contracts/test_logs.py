"""Log lines in JSON: a library's record keeps its logger's name and its traceback as text; the
event's key can be `message`; a traced line carries the trace id of its span."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from contracts.logs import configure_logging
from ingress.logs import configure_ingress_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _fail(exc: Exception) -> None:
    raise exc


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def test_a_library_record_keeps_its_logger_and_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    try:
        _fail(ConnectionResetError("peer went away"))
    except ConnectionResetError:
        logging.getLogger("asyncpg.pool").exception("connection lost")
    (line,) = _lines(capsys)
    assert line["logger"] == "asyncpg.pool"
    assert line["event"] == "connection lost"
    assert "Traceback (most recent call last)" in str(line["exception"])
    assert "ConnectionResetError: peer went away" in str(line["exception"])
    assert "traceback object" not in json.dumps(line)


def test_our_own_exceptions_are_text_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        _fail(ValueError("bad"))
    except ValueError:
        structlog.get_logger("processor").exception("batch.crashed")
    (line,) = _lines(capsys)
    assert "ValueError: bad" in str(line["exception"])


@pytest.mark.parametrize("configure", [configure_logging, configure_ingress_logging])
def test_the_event_key_can_be_message(
    capsys: pytest.CaptureFixture[str], configure: object
) -> None:
    configure("info", "json", message_key="message")  # type: ignore[operator]
    structlog.get_logger("x").info("webhook.accepted", message_id="abc")
    logging.getLogger("aiohttp.server").warning("library line")
    ours, theirs = _lines(capsys)
    assert ours["message"] == "webhook.accepted"
    assert "event" not in ours
    assert theirs["message"] == "library line"


def test_a_traced_line_names_its_trace(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json", traced=True)
    tracer = TracerProvider().get_tracer("test")  # a provider of our own, not the global one
    with tracer.start_as_current_span("work") as span:
        structlog.get_logger("x").info("inside")
        logging.getLogger("asyncpg").warning("inside too")
    structlog.get_logger("x").info("outside")
    inside, inside_too, outside = _lines(capsys)
    expected = format(span.get_span_context().trace_id, "032x")
    assert inside["trace_id"] == expected
    assert inside_too["trace_id"] == expected
    assert "trace_id" not in outside
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_a_message_s_own_trace_wins_over_the_batch_s(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json", traced=True)
    tracer = TracerProvider().get_tracer("test")
    with (
        tracer.start_as_current_span("batch"),
        structlog.contextvars.bound_contextvars(trace_id="ab" * 16),
    ):
        structlog.get_logger("x").info("sale.applied")
    (line,) = _lines(capsys)
    assert line["trace_id"] == "ab" * 16
