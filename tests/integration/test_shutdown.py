"""`python -m processor` as a process: SIGTERM/SIGINT drain and exit 0; SIGKILL loses nothing."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import asyncpg
import pytest

from contracts import Recipient, WebhookEnvelope
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.integration.conftest import count, eventually
from tests.payloads import order
from tests.processes import Service, free_port, service_env

pytestmark = pytest.mark.integration

MESSAGES = 400


def processor_service(settings: ProcessorSettings, log: Path) -> Service:
    env = service_env(
        {
            "TEVO_AMQP_URL": settings.amqp_url,
            "TEVO_DATABASE_URL": settings.database_url,
            "TEVO_NAMESPACE": settings.namespace,
            "TEVO_RETRY_DELAYS": ",".join(str(s) for s in settings.retry_delays),
            "TEVO_RETRY_MAX_ATTEMPTS": str(settings.retry_max_attempts),
            "TEVO_SHUTDOWN_TIMEOUT": str(settings.shutdown_timeout),
            # Not the default 9100: another processor on this machine may hold it.
            "TEVO_PROCESSOR_HTTP_HOST": "127.0.0.1",
            "TEVO_PROCESSOR_HTTP_PORT": str(free_port()),
        }
    )
    return Service("processor", ["-m", "processor"], env, log)


@pytest.fixture
async def processor_process(
    processor_settings: ProcessorSettings, tmp_path: Path
) -> AsyncIterator[Service]:
    service = processor_service(processor_settings, tmp_path / "processor.log")
    yield service
    await service.stop()


async def publish_orders(settings: ProcessorSettings, n: int) -> list[int]:
    """Publish `n` seller.order_created webhooks as the ingress would; their order ids."""
    base = 10_000_000 + uuid.uuid4().int % 80_000_000
    ids = [base + i for i in range(n)]
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, settings.topology, CONSUMERS, settings.retry_delays)
        exchange = await channel.get_exchange(settings.topology.webhooks_exchange)
        for order_id in ids:
            envelope = WebhookEnvelope(
                recipient=Recipient.SELLER,
                event_type="order_created",
                body=json.dumps(order(id=order_id)).encode(),
                order_group_id=4606857,
            )
            message = aio_pika.Message(
                envelope.body,
                message_id=envelope.message_id,
                headers=envelope.headers(datetime.now(UTC)),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, envelope.routing_key)
    return ids


@pytest.mark.parametrize(
    ("sig", "status"),
    [(signal.SIGTERM, 0), (signal.SIGINT, 0), (signal.SIGKILL, -signal.SIGKILL)],
)
async def test_a_stopped_processor_loses_nothing_and_applies_nothing_twice(
    processor_process: Service,
    processor_settings: ProcessorSettings,
    db: asyncpg.Connection,
    sig: signal.Signals,
    status: int,
) -> None:
    ids = await publish_orders(processor_settings, MESSAGES)
    await processor_process.start()

    async def some_applied() -> bool | None:
        return await count(db, "SELECT count(*) FROM pos.sales") > 0 or None

    await eventually(some_applied, within=30, interval=0.01)
    signalled = time.monotonic()
    assert await processor_process.signal(sig) == status
    if sig is not signal.SIGKILL:
        assert time.monotonic() - signalled < processor_settings.shutdown_timeout + 5
        assert processor_process.logged("processor.stopping")
        assert processor_process.logged("processor.stopped")

    await processor_process.start()

    async def all_applied() -> bool | None:
        return await count(db, "SELECT count(*) FROM pos.sales") == MESSAGES or None

    await eventually(all_applied, within=60)
    applied = await db.fetch("SELECT tevo_order_id FROM pos.sales")
    assert sorted(r["tevo_order_id"] for r in applied) == ids
    assert await count(db, "SELECT count(*) FROM pos.order_history") == MESSAGES


async def test_sigterm_while_waiting_for_the_broker_exits_at_once(
    processor_settings: ProcessorSettings, tmp_path: Path
) -> None:
    # Nothing listens on port 1: the processor keeps retrying its broker connection.
    unreachable = processor_settings.model_copy(
        update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/"}
    )
    service = processor_service(unreachable, tmp_path / "processor.log")
    await service.start()
    try:

        async def waiting() -> bool | None:
            return (
                # each broker session that cannot connect ends, and the next waits its turn
                any(e.get("event") == "processor.broker_lost" for e in service.events()) or None
            )

        await eventually(waiting, within=30)
        assert await service.signal(signal.SIGTERM, wait=10) == 0
        assert service.logged("processor.stopped")
    finally:
        await service.stop()
