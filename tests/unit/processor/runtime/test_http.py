"""The processor's HTTP port: liveness always, readiness from its dependencies, metrics by name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from processor.errors import DatabaseUnavailable
from processor.metrics import ProcessorMetrics
from processor.runtime.health import Health
from processor.runtime.http import create_app
from processor.runtime.pause import Pause

Client = TestClient[web.Request, web.Application]


class FakeBroker:
    """The two things readiness reads from an aio-pika connection."""

    def __init__(self, *, closed: bool = False, connected: bool = True) -> None:
        self.is_closed = closed
        self.connected = asyncio.Event()
        if connected:
            self.connected.set()


@pytest.fixture
def metrics() -> ProcessorMetrics:
    return ProcessorMetrics()


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
async def client(metrics: ProcessorMetrics, health: Health) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(metrics, health))) as client:
        yield client


async def test_healthz_answers_before_anything_is_connected(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200


async def test_readyz_before_any_connection_says_not_tried(client: Client) -> None:
    # The database is tried first, the broker only once it answers: neither is "down" yet.
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body == {"ready": False, "broker": "not tried", "database": "not tried"}


async def test_readyz_is_503_naming_what_is_down(client: Client, health: Health) -> None:
    health.database_tried = True  # waiting for the database: the broker is not tried yet
    response = await client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {"ready": False, "broker": "not tried", "database": "down"}
    health.broker_tried = True
    body = await (await client.get("/readyz")).json()
    assert body == {"ready": False, "broker": "down", "database": "down"}


@pytest.mark.parametrize(
    ("broker", "up"),
    [
        (FakeBroker(), True),
        (FakeBroker(connected=False), False),  # a robust connection while it reconnects
        (FakeBroker(closed=True), False),
    ],
)
def test_broker_up_follows_the_connection(broker: FakeBroker, up: bool) -> None:
    health = Health(broker=broker)  # type: ignore[arg-type] # a fake at our own seam
    assert health.broker_up() is up


async def test_readyz_with_broker_up_still_waits_for_the_database(
    client: Client, health: Health
) -> None:
    health.broker = FakeBroker()  # type: ignore[assignment] # a fake at our own seam
    health.database_tried = True
    body = await (await client.get("/readyz")).json()
    assert body == {"ready": False, "broker": "up", "database": "down"}


def test_a_blocked_or_lost_publishing_connection_is_a_broker_down() -> None:
    health = Health(broker=FakeBroker(), publisher=FakeBroker(closed=True))  # type: ignore[arg-type] # fakes at our own seam
    assert health.broker_up() is False


async def test_readyz_says_why_consumption_is_paused(client: Client, health: Health) -> None:
    health.broker = FakeBroker()  # type: ignore[assignment] # a fake at our own seam
    health.pause = Pause()

    async def answers() -> bool:
        return False

    health.pause.trip(DatabaseUnavailable("ConnectionRefusedError"), answers)
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["paused"] == "database unavailable"
    assert body["ready"] is False


async def test_metrics_exposes_every_processor_metric_under_the_tevo_prefix(
    client: Client, metrics: ProcessorMetrics
) -> None:
    metrics.messages.labels("seller.order_created", "applied").inc()
    metrics.count_created("seller.order_created", ["sale", "invoice"])
    metrics.count_created("seller.order_created", ["sale"])
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert (
        'tevo_processor_messages_total{consumer="seller.order_created",outcome="applied"} 1.0'
        in text
    )
    assert (
        'tevo_pos_records_created_total{consumer="seller.order_created",record="sale"} 2.0' in text
    )
    assert (
        'tevo_pos_records_created_total{consumer="seller.order_created",record="invoice"} 1.0'
        in text
    )
    # prometheus-client adds a `<counter>_created` gauge per counter: timestamps, not metrics.
    families = text_string_to_metric_families(text)
    names = {f.name for f in families if f.type != "gauge" and f.name.startswith("tevo_")}
    assert names == {
        "tevo_processor_messages",
        "tevo_processor_handler_seconds",
        "tevo_processor_end_to_end_seconds",
        "tevo_pos_records_created",
        "tevo_processor_batch_messages",
        "tevo_processor_batch_fallbacks",
        "tevo_processor_set_based_fallbacks",
        "tevo_pos_fraud_waits_exceeded",
        "tevo_processor_paused_seconds",
        "tevo_processor_batch_crashes",
        "tevo_processor_background_failures",
    }


async def test_readyz_is_503_while_a_delivery_is_held_past_the_limit(
    client: Client, health: Health
) -> None:
    """A batch stranded unacked must not pass unseen behind a green /readyz."""
    health.held, health.held_limit = (lambda: 130.4), 120.0
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["deliveries"] == "one held unacked for 130 s"
    health.held = lambda: 3.0
    assert "deliveries" not in await (await client.get("/readyz")).json()


async def test_readyz_says_the_schema_is_behind_while_the_processor_waits(
    client: Client, health: Health
) -> None:
    health.schema = "the database schema is at version 6, this code needs 7: run migrate"
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["paused"] == health.schema


async def test_no_version_in_the_server_header(client: Client) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/nowhere"):
        response = await client.get(path)
        assert response.headers["Server"] == "tevo-pos-webhooks"
