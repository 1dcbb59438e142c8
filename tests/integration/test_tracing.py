"""One trace per webhook: the ingress and the processor, as processes, export over OTLP/HTTP to a
receiver here, and a webhook's spans (server, producer, batch, database, TEvo's API) share one
trace id, linked as OpenTelemetry's messaging conventions say, with the token nowhere in them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import Services
from tests.fake_tevo import SECRET, TOKEN, FakeTevo
from tests.integration.conftest import eventually
from tests.payloads import FORM_HEADERS, form, order
from tests.processes import Service, free_port, service_env, serving

pytestmark = pytest.mark.integration

WEBHOOK_TOKEN = f"trace-test-{uuid.uuid4().hex}"  # unique: found nowhere by chance
ORDER = order()  # an office's sale, confirmed by the fake TEvo before it is invoiced


@dataclass
class Exported:
    """A span as received, with the service that sent it."""

    service: str
    span: Span

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint: every request's raw bytes, and its spans decoded."""

    raw: list[bytes] = field(default_factory=list)
    spans: list[Exported] = field(default_factory=list)

    async def traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.raw.append(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                self.spans += [Exported(attributes["service.name"], s) for s in scope.spans]
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    def named(self, prefix: str) -> list[Exported]:
        return [s for s in self.spans if s.span.name.startswith(prefix)]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", found.traces)
    async with TestServer(app, host="127.0.0.1") as server:
        yield found, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTevo]:
    tevo = FakeTevo()
    tevo.add(ORDER)
    async with tevo.running():
        yield tevo


async def test_one_trace_from_the_post_to_the_commit(
    *,
    services: Services,
    database_url: str,
    namespace: str,
    receiver: tuple[Receiver, str],
    fake: FakeTevo,
    tmp_path: Path,
) -> None:
    found, endpoint = receiver
    port = free_port()
    env = service_env(
        {
            "TEVO_AMQP_URL": services.amqp_url,
            "TEVO_DATABASE_URL": database_url,
            "TEVO_NAMESPACE": namespace,
            "TEVO_WEBHOOK_TOKENS": WEBHOOK_TOKEN,
            "TEVO_INGRESS_HOST": "127.0.0.1",
            "TEVO_INGRESS_PORT": str(port),
            "TEVO_PROCESSOR_HTTP_HOST": "127.0.0.1",
            "TEVO_PROCESSOR_HTTP_PORT": "0",
            "TEVO_SHUTDOWN_TIMEOUT": "5",
            "TEVO_API_URL": fake.url,
            "TEVO_API_TOKEN": TOKEN,
            "TEVO_API_SECRET": SECRET,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export within the test's patience
        }
    )
    migrate = Service("migrate", ["-m", "processor", "migrate"], env, tmp_path / "migrate.log")
    await migrate.start()
    assert await migrate.wait() == 0, migrate.tail()
    ingress = Service("ingress", ["-m", "ingress"], env, tmp_path / "ingress.log")
    processor = Service("processor", ["-m", "processor"], env, tmp_path / "processor.log")
    base_url = f"http://127.0.0.1:{port}"
    async with serving(ingress, processor, base_url):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base_url}/webhooks/tevo/{WEBHOOK_TOKEN}", data=form(ORDER), headers=FORM_HEADERS
            ) as answer,
        ):
            assert answer.status == 202

        async def whole() -> bool | None:
            batches = found.named(f"process {namespace}.")
            database = [s for s in found.spans if s.span.kind == Span.SPAN_KIND_CLIENT]
            return (bool(batches) and len(database) > 1) or None

        await eventually(whole, within=30, interval=0.1)
        history = await _history_trace_ids(database_url)
    _assert_one_trace(found, namespace)
    (trace_id,) = {s.trace_id for s in found.spans if s.span.name.startswith("POST ")}
    assert history == [trace_id]
    accepted = [e for e in ingress.events() if e.get("event") == "webhook.accepted"]
    assert [e.get("trace_id") for e in accepted] == [trace_id]
    applied = [e for e in processor.events() if e.get("event") == "sale.applied"]
    assert applied
    assert {e.get("trace_id") for e in applied} == {trace_id}
    everything = b"".join(found.raw)
    assert WEBHOOK_TOKEN.encode() not in everything
    assert TOKEN.encode() not in everything  # TEvo's API token is a header: never recorded
    assert SECRET.encode() not in everything


def _assert_one_trace(found: Receiver, namespace: str) -> None:
    (server,) = found.named("POST /webhooks/tevo/{token}")
    assert server.service == "tevo-ingress"
    assert server.span.kind == Span.SPAN_KIND_SERVER
    (producer,) = found.named(f"publish {namespace}.webhooks")
    assert producer.service == "tevo-ingress"
    assert producer.span.kind == Span.SPAN_KIND_PRODUCER
    assert producer.span.parent_span_id == server.span.span_id
    (batch,) = found.named(f"process {namespace}.")
    assert batch.service == "tevo-processor"
    assert batch.span.kind == Span.SPAN_KIND_CONSUMER
    assert batch.span.parent_span_id == producer.span.span_id
    assert [(link.trace_id, link.span_id) for link in batch.span.links] == [
        (producer.span.trace_id, producer.span.span_id)
    ]
    # Under the batch: asyncpg's statements (the transaction, BEGIN to COMMIT) and the call to
    # TEvo's API that verified the order before it was invoiced.
    under_batch = _descendants(found, batch.span.span_id)
    statements = [s for s in under_batch if "db.system" in _keys(s) or "db.system.name" in _keys(s)]
    assert statements, "no asyncpg span under the batch"
    calls = [s for s in under_batch if s.name == "GET" and s.kind == Span.SPAN_KIND_CLIENT]
    assert calls, "no span of TEvo's API under the batch"
    # Other traces exist (readiness probes, the review watch's queries): not the webhook's.
    in_trace = {s.span.span_id for s in found.spans if s.trace_id == server.trace_id}
    webhook = {server.span.span_id, producer.span.span_id, batch.span.span_id}
    assert webhook | {s.span_id for s in under_batch} <= in_trace


def _keys(span: Span) -> set[str]:
    return {a.key for a in span.attributes}


def _descendants(found: Receiver, root: bytes) -> list[Span]:
    children: dict[bytes, list[Span]] = {}
    for exported in found.spans:
        children.setdefault(exported.span.parent_span_id, []).append(exported.span)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child.span_id)
    return out


async def _history_trace_ids(database_url: str) -> list[str | None]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT trace_id FROM pos.order_history")
    finally:
        await conn.close()
    return [row["trace_id"] for row in rows]
