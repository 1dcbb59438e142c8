"""docs/adding-a-consumer.md's worked example, run as written: its consumer, its test, the move."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from processor import registry
from processor.commands import unrouted
from processor.handler import Consumer
from processor.settings import ProcessorSettings
from tests.conftest import Services
from tests.examples import load
from tests.integration.conftest import TOKEN, eventually, outcomes, queue_depth, running
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
EXAMPLE = load("consumer", "buyer_order_completed")
EXAMPLE_TEST = load("test", "test_buyer_order_completed")


@pytest.fixture
async def register(
    monkeypatch: pytest.MonkeyPatch, services: Services, namespace: str
) -> AsyncIterator[Callable[[], Consumer]]:
    """Step 3: put the example consumer in the registry; its queues are deleted afterwards."""
    consumer: Consumer = EXAMPLE.CONSUMER

    def register_example() -> Consumer:
        monkeypatch.setattr(registry, "CONSUMERS", (*registry.CONSUMERS, consumer))
        return consumer

    yield register_example
    # The namespace's own clean-up knows only the consumers registered in the code.
    topology = ProcessorSettings(namespace=namespace).topology
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(topology.consumer_queue(consumer.name))
        await channel.queue_delete(topology.dead_letter_queue(consumer.name))


async def test_the_example_consumer_passes_the_example_test(
    register: Callable[[], Consumer],
    processor_settings: ProcessorSettings,
    ingress: Client,
    db: asyncpg.Connection,
) -> None:
    assert register().name == "buyer.order_completed"
    await EXAMPLE_TEST.test_order_completed_completes_the_purchase_order(
        processor_settings, ingress, db
    )


async def test_what_waited_in_unrouted_reaches_the_new_consumer(
    register: Callable[[], Consumer],
    processor_settings: ProcessorSettings,
    ingress: Client,
    amqp: aio_pika.abc.AbstractChannel,
    db: asyncpg.Connection,
) -> None:
    body = order("purchase_order", state="completed")
    webhook = form(body, recipient="buyer", event_type="order_completed", order_group_id=4651002)
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=webhook, headers=FORM_HEADERS)
    assert response.status == 202
    unrouted_queue = processor_settings.topology.unrouted

    async def parked() -> bool:
        return await queue_depth(amqp, unrouted_queue) == 1

    await eventually(parked)
    register()
    # Step 7 (`move` declares the registered consumers' queues first, as step 6's migrate does).
    parser = argparse.ArgumentParser()
    unrouted.add_arguments(parser)
    assert await unrouted.main(parser.parse_args(["move"]), processor_settings) == 0
    assert await queue_depth(amqp, unrouted_queue) == 0
    async with running(processor_settings) as metrics:

        async def applied() -> bool:
            return outcomes(metrics, "buyer.order_completed", "applied") == 1

        await eventually(applied)
    status = await db.fetchval("SELECT status FROM pos.purchase_orders")
    assert status == "completed"
