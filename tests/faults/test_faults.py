"""Break things under load; every webhook answered 202 is applied exactly once, nothing else is.

Each test runs the real processes on private services (see conftest), posts webhooks while a
fault happens, waits for the processor to catch up and prints the counts: sent, accepted,
applied, duplicates, retried, dead-lettered. `test_outages.py` holds the longer outages.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aio_pika
import aiohttp
import pytest

from contracts import Recipient, WebhookEnvelope
from tests.faults.conftest import CONSUMER, Stack, exactly_once
from tests.faults.load import Load, accepted_at_least
from tests.faults.services import PrivateRabbit
from tests.integration.conftest import eventually
from tests.payloads import order
from tests.processes import Service, duplicates_by_message

pytestmark = pytest.mark.faults

STEP = 40  # accepted orders between the moves of a test: load before, during and after


@asynccontextmanager
async def under_load(stack: Stack, copies: int = 1) -> AsyncIterator[Load]:
    load = Load(stack.webhook_url, copies=copies)
    stop = asyncio.Event()
    task = asyncio.create_task(load.run(stop))
    try:
        await eventually(accepted_at_least(load, STEP), within=60)
        yield load
        await eventually(accepted_at_least(load, len(load.accepted) + STEP), within=90)
    finally:
        stop.set()
        await task


@asynccontextmanager
async def rabbitmq_stopped(rabbit: PrivateRabbit) -> AsyncIterator[None]:
    """RabbitMQ's application stopped for the block, started again whatever happens."""
    await rabbit.ctl("stop_app")
    try:
        yield
    finally:
        await rabbit.start_app()


def report(capsys: pytest.CaptureFixture[str], name: str, counts: dict[str, int]) -> None:
    with capsys.disabled():
        print(f"\n[faults] {name}: {json.dumps(counts)}")


async def test_processor_killed_and_restarted(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    async with under_load(stack) as load:
        assert await stack.processor.signal(signal.SIGKILL) == -signal.SIGKILL
        # webhooks keep coming while no processor runs: they wait in the queue
        await eventually(accepted_at_least(load, len(load.accepted) + STEP), within=60)
        await stack.processor.start()
    report(capsys, "processor SIGKILL", await exactly_once(stack, load))


async def test_rabbitmq_restart(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    async with under_load(stack) as load:
        async with rabbitmq_stopped(stack.private.rabbit):
            await eventually(lambda: _ready_is(stack, 503), within=30)
            answered_503 = load.statuses[503]
            await eventually(lambda: _more_503s(load, answered_503), within=30)
        await eventually(lambda: _ready_is(stack, 200), within=60)
    counts = await exactly_once(stack, load)
    report(capsys, "RabbitMQ restart", counts)
    assert counts["answered_503"] > 0
    assert set(load.statuses) <= {202, 401, 503}, load.statuses  # never a 500, never a hang
    _still_running(stack.ingress, stack.processor)


async def test_duplicates_and_redeliveries(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    async with under_load(stack, copies=2) as load:
        # the broker takes back what the processor had not acked and hands it out again
        await _close_processor_connection(stack)
        await eventually(accepted_at_least(load, len(load.accepted) + STEP), within=60)
    again = sorted(load.accepted)[:20]
    await _publish_again(stack, again)
    counts = await exactly_once(stack, load)
    # Each copy the broker confirmed beyond an order's first is absorbed as a duplicate of that
    # very message: every order TEvo sent twice, and 20 a third time straight into the queue.
    # A copy may arrive later than the count above (a redelivery, or a copy whose batch met a
    # conflict and took a trip through a delay queue), so wait for each message's own count.
    expected = {
        load.message_ids[order_id]: load.copies_accepted[order_id] - 1 + (order_id in again)
        for order_id in load.accepted
    }

    async def absorbed() -> bool | None:
        seen = duplicates_by_message(stack.processor)
        return all(seen[mid] >= n for mid, n in expected.items()) or None

    try:
        await eventually(absorbed, within=60, interval=0.5)
    except AssertionError:
        seen = duplicates_by_message(stack.processor)
        missing = {mid: (seen[mid], n) for mid, n in expected.items() if seen[mid] < n}
        raise AssertionError(f"copies not absorbed (seen, expected): {missing}") from None
    counts["duplicates"] = sum(duplicates_by_message(stack.processor).values())
    report(capsys, "duplicates and redeliveries", counts)
    assert all(load.copies_accepted[o] >= 2 for o in load.accepted), "a copy never accepted"
    _still_running(stack.ingress, stack.processor)


async def _ready_is(stack: Stack, status: int) -> bool | None:
    try:
        return await stack.ready() == status or None
    except aiohttp.ClientError:
        return None


async def _more_503s(load: Load, before: int) -> bool | None:
    return load.statuses[503] > before or None


def _still_running(*services: Service) -> None:
    for service in services:
        assert service.running, f"{service.name} died:\n{service.tail()}"


async def _close_processor_connection(stack: Stack) -> None:
    """Close the processor's consuming connection from the broker's side."""
    assert stack.processor.process is not None
    label = f"processor@{socket.gethostname()}:{stack.processor.process.pid}"

    async def find() -> str | None:
        listing = await stack.private.rabbit.ctl("list_connections", "pid", "client_properties")
        for line in listing.splitlines():
            if f'"{label}"' in line or f'<<"{label}">>' in line:
                return line.split()[0]
        return None

    pid = await eventually(find, within=30, interval=0.5)
    await stack.private.rabbit.ctl("close_connection", pid, "fault test: connection lost")


async def _publish_again(stack: Stack, order_ids: list[int]) -> None:
    """The same messages the ingress published, straight into the consumer's queue."""
    connection = await aio_pika.connect(stack.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for order_id in order_ids:
            envelope = WebhookEnvelope(
                recipient=Recipient.SELLER,
                event_type="order_created",
                body=json.dumps(order(id=order_id, oid=f"R{order_id}")).encode(),
                order_group_id=4606857,
            )
            message = aio_pika.Message(
                envelope.body,
                message_id=envelope.message_id,
                headers=envelope.headers(_now()),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(message, stack.topology.consumer_queue(CONSUMER))


def _now() -> datetime:
    return datetime.now(UTC)
