"""Tracing is off unless an OTEL_* variable asks for an exporter; the W3C context in headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider

from contracts import Recipient, WebhookEnvelope
from contracts.tracing import TRACEPARENT, enabled, extract, inject, trace_id_of

TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),  # a name is no exporter
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
    ],
)
def test_on_only_when_an_exporter_is_asked_for(environ: dict[str, str], on: bool) -> None:
    assert enabled(environ) is on


def test_off_the_envelope_carries_no_trace_context() -> None:
    envelope = WebhookEnvelope(recipient=Recipient.SELLER, event_type="order_created", body=b"{}")
    assert TRACEPARENT not in envelope.headers(datetime.now(UTC))


def test_inside_a_span_the_envelope_carries_its_context() -> None:
    envelope = WebhookEnvelope(recipient=Recipient.SELLER, event_type="order_created", body=b"{}")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("publish") as span:
        headers = envelope.headers(datetime.now(UTC))
    context = span.get_span_context()
    assert trace_id_of(headers) == format(context.trace_id, "032x")
    assert headers[TRACEPARENT].split("-")[2] == format(context.span_id, "016x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE}-b7ad6b7169203331-01", TRACE),
        (f"00-{TRACE}-b7ad6b7169203331-01".encode(), TRACE),
        (f"00-{'0' * 32}-b7ad6b7169203331-01", None),  # the invalid trace id
        ("garbage", None),
        (42, None),
        (None, None),
    ],
)
def test_trace_id_of_a_header(value: object, expected: str | None) -> None:
    assert trace_id_of({TRACEPARENT: value} if value is not None else {}) == expected


def test_extract_reads_headers_of_any_case() -> None:
    headers = {"Traceparent": f"00-{TRACE}-b7ad6b7169203331-01", "attempts": 2}
    carried: dict[str, object] = {}
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("child", context=extract(headers)) as span:
        inject(carried)
    assert format(span.get_span_context().trace_id, "032x") == TRACE
    assert trace_id_of(carried) == TRACE
