"""What operators see: metrics on both services, names in the RabbitMQ console, definitions.

The console checks use RabbitMQ's management API: `TEST_RABBITMQ_API_URL` when set, otherwise
port 15672 on the `TEST_AMQP_URL` host with its credentials.
"""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from contracts import Topology
from contracts.topology import DELIVERY_LIMIT
from ingress.app import PUBLISHER, create_app
from ingress.settings import IngressSettings
from processor.app import run
from processor.metrics import ProcessorMetrics
from processor.ops.definitions import definitions
from processor.registry import CONSUMERS
from processor.runtime import http
from processor.runtime.health import Health
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.conftest import TEST_RETRY_DELAYS, Services
from tests.integration.conftest import TOKEN, eventually
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
CONSUMER = "seller.order_created"


@dataclass
class Management:
    session: aiohttp.ClientSession
    base: str

    async def get(self, path: str) -> Any:
        async with self.session.get(f"{self.base}{path}") as response:
            response.raise_for_status()
            return await response.json()

    async def queue_with_policy(self, name: str) -> dict[str, Any] | None:
        """The queue's details once the management API reports its policy (stats lag a little)."""
        queue: dict[str, Any] = await self.get(f"/queues/%2F/{quote(name, safe='')}")
        return queue if queue.get("policy") else None

    async def import_definitions(self, document: dict[str, Any]) -> None:
        async with self.session.post(f"{self.base}/definitions/%2F", json=document) as response:
            assert response.status in {200, 201, 204}, await response.text()

    async def delete_policies(self, document: dict[str, Any]) -> None:
        for policy in document["policies"]:
            name = quote(policy["name"], safe="")
            async with self.session.delete(f"{self.base}/policies/%2F/{name}"):
                pass


@pytest.fixture
async def management(services: Services) -> AsyncIterator[Management]:
    amqp = urlsplit(services.amqp_url)
    base = os.environ.get("TEST_RABBITMQ_API_URL") or f"http://{amqp.hostname}:15672/api"
    auth = aiohttp.encode_basic_auth(amqp.username or "guest", amqp.password or "guest")
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        api = Management(session, base.rstrip("/"))
        try:
            await api.get("/overview")
        except aiohttp.ClientConnectionError:
            pytest.skip(f"no RabbitMQ management API at {base}: set TEST_RABBITMQ_API_URL")
        yield api


@dataclass
class Running:
    ingress: Client
    processor: aiohttp.ClientSession  # to the processor's HTTP port
    processor_url: str
    health: Health
    stop: asyncio.Event

    async def processor_get(self, path: str) -> tuple[int, str]:
        async with self.processor.get(f"{self.processor_url}{path}") as response:
            return response.status, await response.text()


@asynccontextmanager
async def running(
    processor_settings: ProcessorSettings, ingress_settings: IngressSettings
) -> AsyncIterator[Running]:
    """The ingress app and the processor with its HTTP port, as `python -m` runs them."""
    stop, started = asyncio.Event(), asyncio.Event()
    metrics, health = ProcessorMetrics(), Health()
    async with http.serve("127.0.0.1", 0, metrics, health) as port:
        task = asyncio.create_task(
            run(processor_settings, CONSUMERS, stop, metrics, started, health=health)
        )
        try:
            await asyncio.wait_for(started.wait(), timeout=30)
            app = create_app(ingress_settings)
            async with (
                TestClient(TestServer(app)) as ingress,
                aiohttp.ClientSession() as session,
            ):
                await eventually(lambda: _true_or_none(app[PUBLISHER].ready))
                yield Running(ingress, session, f"http://127.0.0.1:{port}", health, stop)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)


async def _true_or_none(value: bool) -> bool | None:
    return value or None


async def test_both_services_count_a_webhook_in_their_metrics(
    processor_settings: ProcessorSettings, ingress_settings: IngressSettings
) -> None:
    async with running(processor_settings, ingress_settings) as services:
        assert (await services.processor_get("/readyz"))[0] == 200
        response = await services.ingress.post(
            f"/webhooks/tevo/{TOKEN}", data=form(order()), headers=FORM_HEADERS
        )
        assert response.status == 202

        async def applied() -> str | None:
            _status, text = await services.processor_get("/metrics")
            line = f'tevo_processor_messages_total{{consumer="{CONSUMER}",outcome="applied"}} 1.0'
            return text if line in text else None

        text = await eventually(applied)
        assert f'tevo_pos_records_created_total{{consumer="{CONSUMER}",record="sale"}} 1.0' in text
        assert f'tevo_processor_end_to_end_seconds_count{{consumer="{CONSUMER}"}} 1.0' in text
        ingress_text = await (await services.ingress.get("/metrics")).text()
        assert (
            'tevo_webhooks_received_total{event_type="order_created",recipient="seller",'
            'status="202"} 1.0' in ingress_text
        )
        assert "tevo_ingress_publish_confirm_seconds_count 1.0" in ingress_text
        health = services.health
    # Stopped: the pool and the connection are closed, so the same checks now say down.
    assert await health.check() == {"broker": False, "database": False}


async def test_console_shows_named_connections_and_consumer_tags(
    processor_settings: ProcessorSettings,
    ingress_settings: IngressSettings,
    management: Management,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A host name of our own, so the connections found are this test's, not a neighbour's.
    host = f"opstest-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    async with running(processor_settings, ingress_settings):

        async def named() -> set[str] | None:
            names = {c.get("user_provided_name") for c in await management.get("/connections")}
            wanted = {f"ingress@{host}", f"processor@{host}:{os.getpid()}"}
            return wanted if wanted <= names else None

        await eventually(named, within=20)
        queue = processor_settings.topology.consumer_queue(CONSUMER)

        async def tags() -> set[str] | None:
            # The console lists a consumer a moment after its connection: it consumes only
            # once its session declared the topology.
            consumers = await management.get("/consumers/%2F")
            return {c["consumer_tag"] for c in consumers if c["queue"]["name"] == queue} or None

        assert await eventually(tags, within=20) == {f"{CONSUMER}@{host}:{os.getpid()}"}


async def test_services_declare_cleanly_over_imported_definitions(
    services: Services, namespace: str, management: Management
) -> None:
    topology = Topology(namespace)
    document = definitions(topology, CONSUMERS, TEST_RETRY_DELAYS)
    await management.import_definitions(document)
    try:
        connection = await aio_pika.connect(services.amqp_url)
        async with connection:
            # RabbitMQ refuses a redeclaration whose arguments differ: this passing is the check.
            await declare(await connection.channel(), topology, CONSUMERS, TEST_RETRY_DELAYS)
        queue = await eventually(
            lambda: management.queue_with_policy(topology.consumer_queue(CONSUMER)), within=20
        )
        assert queue["policy"] == topology.consumer_queue(CONSUMER)
        assert queue["effective_policy_definition"]["delivery-limit"] == DELIVERY_LIMIT
        unrouted = await eventually(
            lambda: management.queue_with_policy(topology.unrouted), within=20
        )
        assert unrouted["effective_policy_definition"]["overflow"] == "reject-publish"
    finally:
        await management.delete_policies(document)


async def test_definitions_that_differ_from_the_code_make_declare_fail(
    services: Services, namespace: str, management: Management
) -> None:
    topology = Topology(namespace)
    document = copy.deepcopy(definitions(topology, CONSUMERS, TEST_RETRY_DELAYS))
    queue = topology.consumer_queue(CONSUMER)
    for entry in document["queues"]:
        if entry["name"] == queue:
            entry["arguments"]["x-delivery-limit"] = DELIVERY_LIMIT + 1
    await management.import_definitions(document)
    try:
        connection = await aio_pika.connect(services.amqp_url)
        async with connection:
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
                await declare(await connection.channel(), topology, CONSUMERS, TEST_RETRY_DELAYS)
    finally:
        await management.delete_policies(document)
