"""OpenTelemetry set-up shared by both services, and the W3C trace context in AMQP headers.

Tracing is configured by the standard `OTEL_*` variables alone, and off while none of them asks
for an exporter: then nothing but the API is imported, every span is the API's non-recording
one, and the ingress does not even write a `traceparent` header. On, the SDK exports in batches
over OTLP/HTTP (protobuf) from a thread of its own; the endpoint, headers, sampler, service
name and resource come from the variables as the SDK reads them.

The context a webhook travels with is W3C's `traceparent` (and `tracestate`), as AMQP headers
next to the envelope's: the processor reads the trace id from it for its log lines and
`pos.order_history`, whether or not its own tracing is on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

TRACEPARENT = "traceparent"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_INVALID_TRACE_ID = "0" * 32
# Variables that ask for an exporter; any one of them turns tracing on.
_SWITCHES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Tracing is on when an `OTEL_*` variable asks for an exporter and none turns it off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in _SWITCHES)


def configure_tracing(service_name: str) -> Callable[[], None] | None:
    """Install the SDK's tracer provider when `enabled()`; the function that flushes and shuts it
    down at exit, or None when tracing is off."""
    if not enabled():
        return None
    # Imported here: with tracing off a process never loads the SDK, the exporter or protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    # OTEL_SERVICE_NAME wins; without it, the program's own name rather than "unknown_service".
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider.shutdown


def installed() -> bool:
    """Whether `configure_tracing` installed the SDK in this process (spans record)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def inject(headers: MutableMapping[str, Any]) -> None:
    """Write the current span's context into `headers` (nothing when no span records)."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)


def extract(headers: Mapping[str, Any]) -> Context:
    """The context a message's headers carry (empty when they carry none)."""
    carrier = {k.lower(): v for k, v in headers.items() if isinstance(v, str)}
    return propagate.extract(carrier)


def trace_id_of(headers: Mapping[str, Any]) -> str | None:
    """The trace id (32 hex digits) a message's `traceparent` header names, or None."""
    value = headers.get(TRACEPARENT)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    found = _TRACEPARENT.match(value.strip())
    if found is None or found.group(1) == _INVALID_TRACE_ID:
        return None
    return found.group(1)


def add_trace_id(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace id, unless the line already names one (a
    message's own, bound by the processor for each message of a batch)."""
    if "trace_id" not in event:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
    return event
