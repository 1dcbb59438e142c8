"""A processor started before `migrate`, or one migration behind: it waits, and loses nothing.

A deployment step not done is no message's fault: the processor says so in one line, is not
ready, consumes nothing meanwhile, and applies every webhook once `migrate` has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from processor.app import run
from processor.metrics import ProcessorMetrics
from processor.migrations import code_version, migration_files
from processor.ops.migrate import migrate
from processor.registry import CONSUMERS
from processor.runtime.health import Health
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.conftest import Services, _drop_database, _with_database
from tests.integration.conftest import TOKEN, count, eventually, outcomes, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
CONSUMER = "seller.order_created"
WEBHOOKS = 5


@pytest.fixture
async def empty_database(services: Services) -> AsyncIterator[str]:
    name = f"tevo_s_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(services.database_url, name)
    await _drop_database(services.database_url, name)


async def _migrate_up_to(url: str, last: int) -> None:
    """The schema as `migrate` of an older release left it: up to migration `last`."""
    db = await asyncpg.connect(url)
    try:
        await db.execute(
            "CREATE SCHEMA pos; CREATE TABLE pos.schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, name, sql in migration_files():
            if version <= last:
                await db.execute(sql)
                await db.execute("INSERT INTO pos.schema_migrations VALUES ($1, $2)", version, name)
    finally:
        await db.close()


@dataclass
class Started:
    """A processor running in the test, and what it shows."""

    health: Health = field(default_factory=Health)
    metrics: ProcessorMetrics = field(default_factory=ProcessorMetrics)
    started: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def _processor(settings: ProcessorSettings) -> AsyncIterator[Started]:
    """`python -m processor` until the block ends; it may not get as far as consuming."""
    it, stop = Started(), asyncio.Event()
    task = asyncio.create_task(
        run(settings, CONSUMERS, stop, metrics=it.metrics, started=it.started, health=it.health)
    )
    try:
        yield it
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _post_webhooks(ingress: Client) -> None:
    for number in range(WEBHOOKS):
        response = await ingress.post(
            f"/webhooks/tevo/{TOKEN}", data=form(order(id=10324712 + number)), headers=FORM_HEADERS
        )
        assert response.status == 202


@pytest.mark.parametrize("behind_by", ["empty", "one migration"])
async def test_a_schema_behind_the_code_waits_dead_letters_nothing_then_applies_everything(
    processor_settings: ProcessorSettings, ingress: Client, empty_database: str, behind_by: str
) -> None:
    if behind_by == "one migration":
        await _migrate_up_to(empty_database, code_version() - 1)
    settings = processor_settings.model_copy(update={"database_url": empty_database})
    topology = settings.topology
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        # the broker half of `migrate` ran (or an earlier release's): the queues are there
        await declare(channel, topology, CONSUMERS, settings.retry_delays)
        with capture_logs() as logs:
            async with _processor(settings) as processor:
                said = await eventually(lambda: _value(processor.health.schema))
                assert f"this code needs {code_version()}" in said
                assert "python -m processor migrate" in said
                await _post_webhooks(ingress)
                queue = topology.consumer_queue(CONSUMER)
                await eventually(lambda: _equal(queue_depth(channel, queue), WEBHOOKS))
                assert not processor.started.is_set()  # nothing consumed while behind
                await migrate(empty_database)
                await asyncio.wait_for(processor.started.wait(), timeout=30)
                db = await asyncpg.connect(empty_database)
                try:
                    sales = "SELECT count(*) FROM pos.sales"
                    await eventually(lambda: _equal(count(db, sales), WEBHOOKS), within=30)
                finally:
                    await db.close()
                assert processor.health.schema is None
                assert await queue_depth(channel, topology.dead_letter_queue(CONSUMER)) == 0
                assert outcomes(processor.metrics, CONSUMER, "dead_lettered") == 0
                assert outcomes(processor.metrics, CONSUMER, "retried") == 0
    behind = [entry for entry in logs if entry["event"] == "processor.schema_behind"]
    assert len(behind) == 1  # said once, in one line, not once per look


async def _value(value: str | None) -> str | None:
    return value


async def _equal(measured: object, expected: int) -> bool | None:
    return await measured == expected or None  # type: ignore[misc]
