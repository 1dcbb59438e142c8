"""A list of nodes in `TEVO_AMQP_URL`: each service passes a node that refuses and uses the next.

Nodes that refuse are a URL where nothing listens (port 1); two nodes that answer are the test
broker under two names. The three-node cluster itself, with nodes killed under load, is
tests/cluster.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from contracts import Recipient, WebhookEnvelope
from contracts.brokers import Brokers, node_of
from ingress.app import create_app
from ingress.publisher import RENEW_AFTER_NACK, BrokerUnavailable, Publisher
from ingress.settings import IngressSettings
from processor.broker import connect_broker, connect_once
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.conftest import Services
from tests.integration.conftest import TOKEN, eventually
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

NOBODY = "amqp://guest:guest@127.0.0.1:1/"


async def test_the_ingress_publishes_through_the_node_that_answers(
    ingress_settings: IngressSettings,
) -> None:
    settings = ingress_settings.model_copy(
        update={"amqp_url": f"{NOBODY},{ingress_settings.amqp_url}"}
    )
    async with TestClient(TestServer(create_app(settings))) as client:

        async def ready() -> bool | None:
            return (await client.get("/readyz")).status == 200 or None

        await eventually(ready)
        response = await client.post(
            f"/webhooks/tevo/{TOKEN}", data=form(order()), headers=FORM_HEADERS
        )
        assert response.status == 202


async def test_the_processor_and_its_commands_connect_to_the_node_that_answers(
    processor_settings: ProcessorSettings,
) -> None:
    settings = processor_settings.model_copy(
        update={"amqp_url": f"{NOBODY},{processor_settings.amqp_url}"}
    )
    robust = await connect_broker(settings, role="test")
    async with robust:
        assert not robust.is_closed
        await robust.channel()  # a live node: port 1 has nothing to open a channel on
    once = await connect_once(settings, "test")
    async with once:
        assert not once.is_closed


async def test_a_set_group_size_is_declared(services: Services, namespace: str) -> None:
    # One node: a group of 1 is all it can hold; on a cluster, tests/cluster checks 3 members.
    settings = ProcessorSettings(
        amqp_url=services.amqp_url, namespace=namespace, quorum_initial_group_size=1
    )
    connection = await connect_broker(settings, role="test")
    async with connection:
        channel = await connection.channel()
        queues = await declare(channel, settings.topology, CONSUMERS, (1, 2))
        assert set(queues) == {c.name for c in CONSUMERS}
        # Redeclared with the same size, as every start does: accepted.
        await declare(channel, settings.topology, CONSUMERS, (1, 2))


def _envelope() -> WebhookEnvelope:
    return WebhookEnvelope(
        recipient=Recipient.SELLER,
        event_type="order_created",
        body=json.dumps(order()).encode(),
        order_group_id=4606857,
    )


async def test_a_lost_connection_moves_the_ingress_to_the_next_node(
    ingress_settings: IngressSettings,
) -> None:
    # One broker under two names: for the publisher, two nodes of a list.
    first = ingress_settings.amqp_url
    second = first.replace("127.0.0.1", "localhost")
    assert second != first, "the test broker must be named by its address"
    publisher = Publisher(Brokers((first, second)), ingress_settings.topology, confirm_timeout=2.0)
    with capture_logs() as logs:
        publisher.start()
        try:
            await eventually(lambda: _ready(publisher))
            connection = publisher._connection
            assert connection is not None
            await connection.close()  # as a node's death looks from here
            assert not publisher.ready
            await eventually(lambda: _ready(publisher))
            await publisher.publish(_envelope(), datetime.now(UTC))
        finally:
            await publisher.close()
    nodes = [e["node"] for e in logs if e["event"] in ("broker.connected", "broker.lost")]
    assert nodes == [node_of(first), node_of(first), node_of(second)]


async def test_a_nack_gets_the_ingress_a_new_connection(ingress_settings: IngressSettings) -> None:
    topology = ingress_settings.topology
    publisher = Publisher(Brokers((ingress_settings.amqp_url,)), topology, confirm_timeout=2.0)
    full = f"{topology.namespace}.full"
    with capture_logs() as logs:
        publisher.start()
        try:
            await eventually(lambda: _ready(publisher))
            async with await aio_pika.connect(ingress_settings.amqp_url) as connection:
                channel = await connection.channel()
                # A queue that refuses everything, bound beside the consumers: every publish
                # of a seller webhook is nacked, as by a quorum queue whose leader died.
                queue = await channel.declare_queue(
                    full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
                )
                await queue.bind(topology.webhooks_exchange, "seller.#")
                try:
                    for _ in range(2):  # the second nack comes after RENEW_AFTER_NACK
                        with pytest.raises(BrokerUnavailable):
                            await publisher.publish(_envelope(), datetime.now(UTC))
                        await asyncio.sleep(RENEW_AFTER_NACK)
                finally:
                    await channel.queue_delete(full)
            await eventually(lambda: _ready(publisher))
            await publisher.publish(_envelope(), datetime.now(UTC))
        finally:
            await publisher.close()
    events = [e["event"] for e in logs if e["event"].startswith("broker.")]
    # A nack within RENEW_AFTER_NACK of connecting keeps the connection; a later one replaces it.
    assert events[:2] == ["broker.connected", "broker.nacked"], events
    assert events[-3:] == ["broker.nacked", "broker.lost", "broker.connected"], events


async def _ready(publisher: Publisher) -> bool | None:
    return publisher.ready or None
