"""The whole path: form POST → ingress → RabbitMQ → processor → Postgres."""

from __future__ import annotations

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ingress.app import create_app
from ingress.settings import IngressSettings
from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, count, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


@pytest.mark.usefixtures("processor")
async def test_office_order_created_becomes_a_sale(ingress: Client, db: asyncpg.Connection) -> None:
    response = await ingress.post(
        f"/webhooks/tevo/{TOKEN}", data=form(order()), headers=FORM_HEADERS
    )
    assert response.status == 202
    assert (await response.json())["message_id"]

    async def sale() -> asyncpg.Record | None:
        return await db.fetchrow("SELECT * FROM pos.sales WHERE tevo_order_id = 10324712")

    row = await eventually(sale)
    assert row["order_group_id"] == 4606857
    assert row["buyer_type"] == "Office"
    assert str(row["total"]) == "561.6"
    history = await count(
        db, "SELECT count(*) FROM pos.order_history WHERE tevo_order_id = $1", 10324712
    )
    assert history == 1


async def test_the_same_post_twice_applies_once(
    processor: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    for _ in range(2):
        response = await ingress.post(
            f"/webhooks/tevo/{TOKEN}", data=form(order()), headers=FORM_HEADERS
        )
        assert response.status == 202

    async def both_seen() -> bool | None:
        handled = await count(db, "SELECT count(*) FROM pos.inbox")
        return (handled == 1 and await _drained(processor)) or None

    await eventually(both_seen)
    assert await count(db, "SELECT count(*) FROM pos.sales") == 1
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 1


async def _drained(settings: ProcessorSettings) -> bool:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = settings.topology.consumer_queue("seller.order_created")
        return await queue_depth(channel, queue) == 0


async def test_unknown_event_type_is_accepted_and_parked_in_unrouted(
    ingress: Client, ingress_settings: IngressSettings, amqp: aio_pika.abc.AbstractChannel
) -> None:
    response = await ingress.post(
        f"/webhooks/tevo/{TOKEN}",
        data=form(order(), event_type="ticket_teleported"),
        headers=FORM_HEADERS,
    )
    assert response.status == 202
    unrouted = ingress_settings.topology.unrouted

    async def parked() -> bool | None:
        return await queue_depth(amqp, unrouted) == 1 or None

    await eventually(parked)
    message = await (await amqp.get_queue(unrouted)).get(timeout=5)
    assert message is not None
    assert message.routing_key == "seller.ticket_teleported"
    assert message.headers["event_type"] == "ticket_teleported"
    await message.ack()


async def test_bad_token_is_401_and_publishes_nothing(
    ingress: Client, ingress_settings: IngressSettings, amqp: aio_pika.abc.AbstractChannel
) -> None:
    response = await ingress.post(
        "/webhooks/tevo/not-the-token",
        data=form(order(), event_type="nobody_consumes_this"),
        headers=FORM_HEADERS,
    )
    assert response.status == 401
    body = await response.json()
    assert TOKEN not in str(body)
    # A marker with the right token, on the same channel: once it is in unrouted, anything the
    # refused request had published would be there before it.
    marker = await ingress.post(
        f"/webhooks/tevo/{TOKEN}",
        data=form(order(), event_type="marker_after_refusal"),
        headers=FORM_HEADERS,
    )
    assert marker.status == 202
    queue = await amqp.get_queue(ingress_settings.topology.unrouted)
    first = await queue.get(timeout=5)
    assert first is not None
    assert first.headers["event_type"] == "marker_after_refusal"
    await first.ack()


async def test_broker_down_is_503_with_retry_after(ingress_settings: IngressSettings) -> None:
    settings = ingress_settings.model_copy(
        update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/"}  # nothing listens on port 1
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        response = await client.post(
            f"/webhooks/tevo/{TOKEN}", data=form(order()), headers=FORM_HEADERS
        )
        assert response.status == 503
        assert response.headers["Retry-After"]
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await client.get("/healthz")).status == 200
