"""Reconciliation end to end: fake TEvo API → reconcile → RabbitMQ → processor → Postgres."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from structlog.testing import capture_logs

from processor.app import run
from processor.commands import reconcile as command
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings
from tests.fake_tevo import SECRET, TOKEN, FakeTevo
from tests.integration.conftest import TOKEN as WEBHOOK_TOKEN
from tests.integration.conftest import count, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]

SEEN = order()  # its webhook came: 10324712 in group 4606857
LOST = order(id=10325000, oid="4606857-10325000")  # its webhook never came
NO_GROUP = order("order_client")  # neither order_group_id nor a <group>-<order> oid: skipped


@pytest.fixture
async def fake() -> AsyncIterator[FakeTevo]:
    tevo = FakeTevo()
    tevo.add(SEEN, LOST, NO_GROUP)
    async with tevo.running():
        yield tevo


@pytest.fixture
def processor_settings(processor_settings: ProcessorSettings, fake: FakeTevo) -> ProcessorSettings:
    """The test settings with the fake API's credentials: verification on, reconcile allowed."""
    return processor_settings.model_copy(
        update={"api_url": fake.url, "api_token": SecretStr(TOKEN), "api_secret": SecretStr(SECRET)}
    )


async def reconcile(settings: ProcessorSettings) -> dict[str, Any]:
    """One `python -m processor reconcile` pass; its `reconcile.pass_done` figures."""
    with capture_logs() as logs:
        status = await command.main(argparse.Namespace(every=None), settings)
    assert status == 0
    done = [entry for entry in logs if entry["event"] == "reconcile.pass_done"]
    assert len(done) == 1
    return {k: done[0][k] for k in ("listed", "known", "published", "skipped")}


async def settled(db: asyncpg.Connection, settings: ProcessorSettings, handled: int) -> bool | None:
    """True once the inbox holds `handled` messages and the consumer's queue is empty."""
    if await count(db, "SELECT count(*) FROM pos.inbox") != handled:
        return None
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = settings.topology.consumer_queue("seller.order_created")
        return await queue_depth(channel, queue) == 0 or None


async def test_an_order_whose_webhook_never_came_is_recorded_once(
    processor: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    posted = await ingress.post(
        f"/webhooks/tevo/{WEBHOOK_TOKEN}", data=form(SEEN), headers=FORM_HEADERS
    )
    assert posted.status == 202
    await eventually(lambda: settled(db, processor, 1))

    first = await reconcile(processor)
    assert first == {"listed": 3, "known": 1, "published": 1, "skipped": 1}
    await eventually(lambda: settled(db, processor, 2))
    sale = await db.fetchrow("SELECT * FROM pos.sales WHERE tevo_order_id = 10325000")
    assert sale is not None
    assert sale["order_group_id"] == 4606857
    history = await db.fetch("SELECT * FROM pos.order_history WHERE tevo_order_id = 10325000")
    assert len(history) == 1
    assert (history[0]["recipient"], history[0]["event_type"]) == ("seller", "order_created")
    assert history[0]["note"].endswith("(via reconcile)")
    invoices = "SELECT count(*) FROM pos.invoices WHERE tevo_order_id = 10325000"
    assert await count(db, invoices) == 1  # TEvo's own answer verifies, so it is invoiced

    second = await reconcile(processor)
    assert second == {"listed": 3, "known": 2, "published": 0, "skipped": 1}
    await eventually(lambda: settled(db, processor, 2))
    assert await count(db, "SELECT count(*) FROM pos.sales") == 2
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 2
    # Each one-off run is an operator's act, in the audit with what it did.
    runs = await db.fetch("SELECT via, detail FROM pos.audit WHERE action = 'reconcile.run'")
    assert [(r["via"], r["detail"].split(",")[2].strip()) for r in runs] == [
        ("cli", "published 1"),
        ("cli", "published 0"),
    ]
    assert await count(db, invoices) == 1


async def test_a_late_webhook_after_reconciliation_makes_no_second_sale(
    processor: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    assert (await reconcile(processor))["published"] == 2
    await eventually(lambda: settled(db, processor, 2))

    posted = await ingress.post(
        f"/webhooks/tevo/{WEBHOOK_TOKEN}", data=form(LOST), headers=FORM_HEADERS
    )
    assert posted.status == 202
    await eventually(lambda: settled(db, processor, 3))
    assert await count(db, "SELECT count(*) FROM pos.sales") == 2
    assert await count(db, "SELECT count(*) FROM pos.sales WHERE tevo_order_id = 10325000") == 1


async def test_two_runs_before_the_processor_caught_up_apply_once(
    processor_settings: ProcessorSettings, db: asyncpg.Connection
) -> None:
    # No processor yet: both runs find no sale and publish both orders, under the same ids.
    assert (await reconcile(processor_settings))["published"] == 2
    assert (await reconcile(processor_settings))["published"] == 2

    metrics = ProcessorMetrics()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run(processor_settings, CONSUMERS, stop, metrics=metrics, started=started)
    )

    async def both_duplicates_seen() -> bool | None:
        duplicates = metrics.registry.get_sample_value(
            "tevo_processor_messages_total",
            {"consumer": "seller.order_created", "outcome": "duplicate"},
        )
        return duplicates == 2 or None

    try:
        await asyncio.wait_for(started.wait(), timeout=30)
        await eventually(both_duplicates_seen)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert await count(db, "SELECT count(*) FROM pos.inbox") == 2
    assert await count(db, "SELECT count(*) FROM pos.sales") == 2
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 2


async def test_reconcile_without_credentials_refuses_to_start(
    processor_settings: ProcessorSettings,
) -> None:
    settings = processor_settings.model_copy(update={"api_token": None, "api_secret": None})
    with capture_logs() as logs:
        assert await command.main(argparse.Namespace(every=None), settings) == 2
    assert [e["event"] for e in logs] == ["reconcile.not_configured"]


async def test_an_api_outage_fails_the_pass_and_publishes_nothing(
    processor_settings: ProcessorSettings, fake: FakeTevo, db: asyncpg.Connection
) -> None:
    fake.down = True
    with capture_logs() as logs:
        assert await command.main(argparse.Namespace(every=None), processor_settings) == 1
    failed = [e for e in logs if e["event"] == "reconcile.pass_failed"]
    assert [e["error_type"] for e in failed] == ["UpstreamUnavailable"]
    assert not [e for e in logs if e["event"] == "reconcile.order_published"]
    assert await count(db, "SELECT count(*) FROM pos.sales") == 0
