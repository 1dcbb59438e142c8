"""Failures on a real broker: delayed retries, dead letters with reasons, replay, purge."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts import envelope as h
from contracts.topology import DELIVERY_LIMIT
from processor.app import run
from processor.errors import Conflict, ContractViolation, DatabaseUnavailable, ProcessingError
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.ops import dead_letters as deadletters
from processor.settings import ProcessorSettings
from tests.conftest import Services
from tests.integration.conftest import TOKEN, count, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
FLAKY = "test.flaky"
FLAKY_EVENT = "flaky_event"


@dataclass
class Flaky:
    """A test consumer: each order fails with `error()` while `failing(order id)` says so."""

    error: Callable[[], ProcessingError]
    failures: dict[int, int] = field(default_factory=dict)  # order id -> failures still to come
    broken: bool = False  # every order fails while set
    attempts: dict[int, list[tuple[float, object]]] = field(default_factory=dict)

    async def handle(self, inbound: Inbound, _conn: Connection, _deps: Deps) -> Applied:
        order = inbound.order()
        self.attempts.setdefault(order.id, []).append(
            (time.monotonic(), inbound.headers.get(h.HEADER_ATTEMPTS))
        )
        if self.broken or self.failures.get(order.id, 0) > 0:
            self.failures[order.id] = self.failures.get(order.id, 0) - 1
            raise self.error()
        return Applied(order.id, "flaky applied")


@pytest.fixture
def flaky() -> Flaky:
    return Flaky(lambda: ContractViolation("not yet"))


@pytest.fixture
async def flaky_processor(
    processor_settings: ProcessorSettings, services: Services, flaky: Flaky
) -> AsyncIterator[Consumer]:
    """The processor running only the flaky consumer; its queues deleted afterwards."""
    consumer = Consumer(FLAKY, (f"seller.{FLAKY_EVENT}",), flaky.handle)
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(processor_settings, [consumer], stop, started=started))
    await asyncio.wait_for(started.wait(), timeout=30)
    yield consumer
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in (FLAKY, f"{FLAKY}.dead"):
            await channel.queue_delete(processor_settings.topology.consumer_queue(queue))


async def _post(client: Client, order_id: int, event_type: str = FLAKY_EVENT) -> str:
    response = await client.post(
        f"/webhooks/tevo/{TOKEN}",
        data=form(order(id=order_id), event_type=event_type),
        headers=FORM_HEADERS,
    )
    assert response.status == 202
    message_id: str = (await response.json())["message_id"]
    return message_id


async def _dead(
    amqp: aio_pika.abc.AbstractChannel, settings: ProcessorSettings, consumer: str, n: int
) -> list[deadletters.DeadLetter]:
    queue = settings.topology.dead_letter_queue(consumer)

    async def arrived() -> bool | None:
        return await queue_depth(amqp, queue) == n or None

    await eventually(arrived, within=20)
    return await deadletters.peek(amqp, settings.topology, consumer)


@pytest.mark.usefixtures("processor")
async def test_an_order_without_id_is_dead_lettered_at_once_with_readable_headers(
    ingress: Client, processor_settings: ProcessorSettings, amqp: aio_pika.abc.AbstractChannel
) -> None:
    body = order()
    del body["id"]
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=form(body), headers=FORM_HEADERS)
    assert response.status == 202
    message_id = (await response.json())["message_id"]

    (letter,) = await _dead(amqp, processor_settings, "seller.order_created", 1)
    assert letter.message_id == message_id
    assert letter.reason == "permanent_failure"
    headers = letter.headers
    assert headers[h.HEADER_ATTEMPTS] == 1
    assert headers[h.HEADER_ERROR_TYPE] == "ContractViolation"
    assert "id" in headers[h.HEADER_ERROR_MESSAGE]
    assert headers[h.HEADER_CONSUMER] == "seller.order_created"
    assert headers[h.HEADER_ORIGINAL_ROUTING_KEY] == "seller.order_created"
    assert headers[h.HEADER_FIRST_FAILED_AT] == headers[h.HEADER_LAST_FAILED_AT]
    assert headers[h.HEADER_ORDER_GROUP_ID] == 4606857
    assert letter.body == form_body(body)
    queue = processor_settings.topology.consumer_queue("seller.order_created")
    assert await queue_depth(amqp, queue) == 0


def form_body(body: dict[str, object]) -> bytes:
    """The body bytes the ingress publishes for `form(body)`: json.dumps' output."""
    return json.dumps(body).encode()


@pytest.mark.usefixtures("flaky_processor")
async def test_a_replayed_dead_letter_is_applied_once_its_cause_is_fixed(
    flaky: Flaky,
    ingress: Client,
    processor_settings: ProcessorSettings,
    amqp: aio_pika.abc.AbstractChannel,
    db: asyncpg.Connection,
) -> None:
    flaky.broken = True
    message_id = await _post(ingress, 501)
    (letter,) = await _dead(amqp, processor_settings, FLAKY, 1)
    assert letter.message_id == message_id
    assert letter.reason == "permanent_failure"
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 0

    flaky.broken = False  # the cause is fixed: a consumer release, say
    replayed = await deadletters.replay(amqp, processor_settings.topology, FLAKY)
    assert replayed == [message_id]

    async def applied() -> int | None:
        return await count(db, "SELECT count(*) FROM pos.order_history WHERE consumer = $1", FLAKY)

    assert await eventually(applied) == 1
    assert await queue_depth(amqp, processor_settings.topology.dead_letter_queue(FLAKY)) == 0
    # the replay went to this consumer only, with a fresh budget: no failure headers came along
    assert flaky.attempts[501][-1][1] is None
    assert await count(db, "SELECT count(*) FROM pos.inbox") == 1


@pytest.mark.usefixtures("one_message_per_transaction", "flaky_processor")
@pytest.mark.parametrize("flaky", [Flaky(lambda: Conflict("SerializationError"))])
async def test_a_retryable_failure_waits_its_delays_without_blocking_the_queue(
    flaky: Flaky, ingress: Client, db: asyncpg.Connection
) -> None:
    flaky.failures[601] = 2  # fails twice, then applies
    await _post(ingress, 601)
    await _post(ingress, 602)  # behind it in the queue, and never fails

    async def both_applied() -> bool | None:
        return await count(db, "SELECT count(*) FROM pos.order_history") == 2 or None

    await eventually(both_applied, within=20)
    times = [t for t, _ in flaky.attempts[601]]
    assert [a for _, a in flaky.attempts[601]] == [None, 1, 2]
    # TEST_RETRY_DELAYS is (1, 2): each retry waited out its tier in a delay queue
    assert times[1] - times[0] >= 0.9
    assert times[2] - times[1] >= 1.9
    # the message behind it did not wait for its retries
    assert flaky.attempts[602][0][0] < times[1]
    history = await db.fetch(
        "SELECT tevo_order_id FROM pos.order_history ORDER BY applied_at, tevo_order_id"
    )
    assert [r["tevo_order_id"] for r in history] == [602, 601]


@pytest.mark.usefixtures("flaky_processor")
@pytest.mark.parametrize("flaky", [Flaky(lambda: DatabaseUnavailable("ConnectionRefusedError"))])
async def test_exhausted_retries_are_dead_lettered(
    flaky: Flaky,
    ingress: Client,
    processor_settings: ProcessorSettings,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    flaky.broken = True
    message_id = await _post(ingress, 701)
    (letter,) = await _dead(amqp, processor_settings, FLAKY, 1)
    assert letter.message_id == message_id
    assert letter.reason == "retries_exhausted"
    assert letter.headers[h.HEADER_ATTEMPTS] == processor_settings.retry_max_attempts
    assert letter.headers[h.HEADER_ERROR_TYPE] == "DatabaseUnavailable"
    assert len(flaky.attempts[701]) == processor_settings.retry_max_attempts
    for seconds in processor_settings.retry_delays:
        assert await queue_depth(amqp, processor_settings.topology.delay_queue(seconds)) == 0


@pytest.mark.usefixtures("flaky_processor")
async def test_peek_loses_nothing_and_keeps_the_order_replay_and_purge_take_what_they_say(
    flaky: Flaky,
    ingress: Client,
    processor_settings: ProcessorSettings,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    flaky.broken = True
    ids = [await _post(ingress, 800 + n) for n in range(5)]
    first = [d.message_id for d in await _dead(amqp, processor_settings, FLAKY, 5)]
    assert sorted(first, key=str) == sorted(ids)
    topology = processor_settings.topology
    for _ in range(3):
        assert [d.message_id for d in await deadletters.peek(amqp, topology, FLAKY)] == first

    replayed = await deadletters.replay(amqp, topology, FLAKY, message_id=first[2])
    assert replayed == [first[2]]
    rest = [first[0], first[1], first[3], first[4]]
    # it dies again (still broken) and queues up behind the others
    again = [d.message_id for d in await _dead(amqp, processor_settings, FLAKY, 5)]
    assert again == [*rest, first[2]]

    assert len(await deadletters.purge(amqp, topology, FLAKY, limit=2)) == 2
    left = [d.message_id for d in await deadletters.peek(amqp, topology, FLAKY)]
    assert left == [first[3], first[4], first[2]]
    assert len(await deadletters.purge(amqp, topology, FLAKY)) == 3
    assert await deadletters.peek(amqp, topology, FLAKY) == []


@pytest.mark.usefixtures("flaky_processor")
@pytest.mark.parametrize("flaky", [Flaky(lambda: Conflict("SerializationError"))])
async def test_a_retry_that_cannot_be_scheduled_is_never_lost(
    flaky: Flaky,
    ingress: Client,
    processor_settings: ProcessorSettings,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    # With its delay queue gone the retry is unroutable: the broker returns it, the original is
    # requeued instead of acked, and the queue's delivery limit ends the loop in the .dead queue.
    await amqp.queue_delete(processor_settings.topology.delay_queue(1))
    flaky.broken = True
    message_id = await _post(ingress, 901)
    (letter,) = await _dead(amqp, processor_settings, FLAKY, 1)
    assert letter.message_id == message_id
    assert letter.reason == "delivery_limit"
    assert len(flaky.attempts[901]) > DELIVERY_LIMIT
