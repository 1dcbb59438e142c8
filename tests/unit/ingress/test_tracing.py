"""The ingress's spans: one server span per webhook named by its route, never its path (the
token), a producer span under it whose context the message's headers carry; probes untraced."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from contracts import WebhookEnvelope, tracing
from contracts.tracing import trace_id_of
from ingress import tracing as ingress_tracing
from ingress.app import create_app
from ingress.serve import server_options
from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import TOKEN, make_settings


class HeadersPublisher:
    """Builds the headers the real publisher sends, as it would, inside the publish."""

    def __init__(self) -> None:
        self.headers: list[dict[str, object]] = []

    def start(self) -> None:
        pass

    @property
    def ready(self) -> bool:
        return True

    async def check(self) -> bool:
        return True

    async def publish(self, envelope: WebhookEnvelope, received_at: datetime) -> None:
        self.headers.append(envelope.headers(received_at))

    async def close(self) -> None:
        pass


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(ingress_tracing, "tracer", provider.get_tracer("ingress"))
    monkeypatch.setattr(tracing, "installed", lambda: True)
    yield exporter
    provider.shutdown()


async def test_a_webhook_is_a_server_span_and_a_producer_span(
    exported: InMemorySpanExporter,
) -> None:
    settings = make_settings()
    publisher = HeadersPublisher()
    app = create_app(settings, publisher=publisher)
    server = TestServer(app)
    await server.start_server(**server_options(settings))
    async with TestClient(server) as client:
        answer = await client.post(
            f"/webhooks/tevo/{TOKEN}?x=1", data=form(order()), headers=FORM_HEADERS
        )
        assert answer.status == 202
        assert (await client.get("/readyz")).status == 200
    producer, server_span = exported.get_finished_spans()
    assert server_span.name == "POST /webhooks/tevo/{token}"
    assert server_span.kind == SpanKind.SERVER
    assert server_span.attributes is not None
    assert server_span.attributes["http.route"] == "/webhooks/tevo/{token}"
    assert server_span.attributes["http.response.status_code"] == 202
    assert producer.name == "publish unit.webhooks"
    assert producer.kind == SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == server_span.context.span_id
    (headers,) = publisher.headers
    assert trace_id_of(headers) == format(server_span.context.trace_id, "032x")
    for span in (server_span, producer):
        assert TOKEN not in repr(dict(span.attributes or {}))
        assert TOKEN not in span.name


def test_off_the_app_adds_no_span_middleware() -> None:
    app = create_app(make_settings(), publisher=HeadersPublisher())
    assert ingress_tracing.server_span not in app.middlewares
