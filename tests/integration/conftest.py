"""Running services for integration tests: the ingress app on a test server, the processor."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ingress.app import PUBLISHER, create_app
from ingress.settings import IngressSettings
from processor import registry
from processor.app import run
from processor.handler import Consumer, Inbound
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.dispatch import Outcome
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from tests.conftest import Services

TOKEN = "test-token-0123456789abcdef0123"
T = TypeVar("T")

pytestmark = pytest.mark.integration


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 10.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy, or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value {value!r})")
        await asyncio.sleep(interval)


@pytest.fixture
def ingress_settings(services: Services, namespace: str) -> IngressSettings:
    return IngressSettings(
        amqp_url=services.amqp_url,
        namespace=namespace,
        webhook_tokens=(TOKEN,),
        confirm_timeout=2.0,
    )


@pytest.fixture
async def ingress(
    ingress_settings: IngressSettings,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app(ingress_settings)
    async with TestClient(TestServer(app)) as client:
        await eventually(lambda: _ready(app[PUBLISHER].ready))
        yield client


async def _ready(value: bool) -> bool | None:
    return value or None


@pytest.fixture
async def processor(processor_settings: ProcessorSettings) -> AsyncIterator[ProcessorSettings]:
    """The processor running every registered consumer until the test ends."""
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(processor_settings, CONSUMERS, stop, started=started))
    await asyncio.wait_for(started.wait(), timeout=30)
    yield processor_settings
    stop.set()
    await asyncio.wait_for(task, timeout=30)


@pytest.fixture
def one_message_per_transaction(processor_settings: ProcessorSettings) -> None:
    """No lingering for a batch: each delivery is applied on its own as soon as it arrives.

    A conflict fails a whole batch, and each of its messages is then tried once more on its
    own (tests/integration/test_batches.py): here each attempt must be exactly one delivery.
    """
    processor_settings.batch_linger = 0


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's database, with room for a dozen transactions at once."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=16)
    yield pool
    await pool.close()


@pytest.fixture
async def amqp(services: Services) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        yield await connection.channel()


async def queue_depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    count = queue.declaration_result.message_count
    return int(count or 0)


async def count(db: asyncpg.Connection, sql: str, *args: object) -> int:
    value = await db.fetchval(sql, *args)
    return int(value or 0)


@contextlib.asynccontextmanager
async def running(
    settings: ProcessorSettings, consumers: Sequence[Consumer] | None = None
) -> AsyncIterator[ProcessorMetrics]:
    """A processor running `consumers` (the registry's by default) inside a `with`.

    Its metrics tell what each message did. The registry is read when it starts, so a test that
    registers a consumer (`monkeypatch`) runs it.
    """
    metrics = ProcessorMetrics()
    consumers = registry.CONSUMERS if consumers is None else consumers
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(settings, consumers, stop, metrics=metrics, started=started))
    await asyncio.wait_for(started.wait(), timeout=30)
    try:
        yield metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def outcomes(metrics: ProcessorMetrics, consumer: str, outcome: str) -> int:
    """How many messages `consumer` handled with `outcome` (applied, duplicate, ...)."""
    value = metrics.registry.get_sample_value(
        "tevo_processor_messages_total", {"consumer": consumer, "outcome": outcome}
    )
    return int(value or 0)


async def apply_one(applier: Applier, consumer: Consumer, inbound: Inbound) -> Outcome:
    """`inbound` through the dispatcher's own transaction, as a batch of one (handler, inbox,
    history), without the broker; raises the error a failed message came to."""
    (step,) = await applier.apply(consumer, [inbound])
    if step.error is not None:
        raise step.error
    return Outcome.DUPLICATE if step.applied is None else Outcome.APPLIED
