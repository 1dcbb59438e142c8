"""A list of nodes in `TEVO_AMQP_URL`: each service passes a node that refuses and uses the next.

The first URL of each list points where nothing listens (port 1), the second at the test broker.
The three-node cluster itself, with nodes killed under load, is tests/cluster.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ingress.app import create_app
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
