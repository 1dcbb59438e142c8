"""`retention run` forgets exactly what its settings say, while the processor keeps applying.

Old data is made by applying webhooks and then moving their timestamps back; `--dry-run`
counts first, and the run that follows must remove those very numbers while a stream of new
webhooks is being applied. A message that comes back after retention removed its inbox row is
applied again and doubles nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts import envelope as h
from processor.commands import privacy
from processor.commands.retention import run_pass
from processor.settings import ProcessorSettings
from tests.conftest import Services
from tests.integration.conftest import TOKEN, count, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
OLD = [30_000_001 + i for i in range(5)]
LOAD = 40


@pytest.fixture
def processor_settings(processor_settings: ProcessorSettings) -> ProcessorSettings:
    return processor_settings.model_copy(update={"retention_batch": 2})


async def _post(ingress: Client, data: str) -> str:
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=data, headers=FORM_HEADERS)
    assert response.status == 202, await response.text()
    message_id: str = (await response.json())["message_id"]
    return message_id


def _client_sale(order_id: int, email: str) -> str:
    body = order("order_client_approved", id=order_id)
    body["client"] = {**body["client"], "id": order_id, "email_addresses": [{"address": email}]}
    body["buyer"] = {**body["buyer"], "id": order_id}
    return form(body)


async def _age(db: asyncpg.Connection) -> None:
    """Move the old orders' data back in time, each kind past (or short of) its keep period."""
    await db.execute("UPDATE pos.inbox SET applied_at = applied_at - interval '40 days'")
    await db.execute(
        "UPDATE pos.order_history SET applied_at = applied_at - interval '800 days' "
        "WHERE tevo_order_id = ANY($1::bigint[])",
        OLD[:2],
    )
    for order_id, days in ((OLD[0], 800), (OLD[1], 200), (OLD[2], 100)):
        await db.execute(
            "UPDATE pos.sales SET updated_at = updated_at - make_interval(days => $2) "
            "WHERE tevo_order_id = $1",
            order_id,
            days,
        )
        await db.execute(
            "UPDATE pos.sale_versions SET received_at = received_at - make_interval(days => $2)"
            " WHERE tevo_order_id = $1",
            order_id,
            days,
        )


async def _dead_letters(amqp: aio_pika.abc.AbstractChannel, settings: ProcessorSettings) -> str:
    queue = settings.topology.dead_letter_queue("seller.order_created")
    now = datetime.now(UTC)
    for n, failed in enumerate((now - timedelta(days=40), now - timedelta(days=31), now)):
        headers: dict[str, Any] = {h.HEADER_LAST_FAILED_AT: failed.isoformat()}
        message = aio_pika.Message(b"{}", headers=headers, message_id=f"dead-{n}")
        await amqp.default_exchange.publish(message, queue)
    await eventually(lambda: _at_least(amqp, queue, 3))
    return queue


async def _at_least(channel: aio_pika.abc.AbstractChannel, queue: str, n: int) -> bool:
    return await queue_depth(channel, queue) >= n


async def _pass(settings: ProcessorSettings, *, dry_run: bool) -> dict[str, int]:
    out = io.StringIO()
    assert await run_pass(settings, dry_run=dry_run, out=out) == 0
    found = re.findall(
        r"^(.+?): (?:would delete|deleted|would mask|masked|would drop|dropped) (\d+)",
        out.getvalue(),
        re.M,
    )
    return {name: int(n) for name, n in found}


async def test_a_run_removes_what_its_dry_run_counted_while_the_processor_applies(
    processor: ProcessorSettings,
    ingress: Client,
    db: asyncpg.Connection,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    for n, order_id in enumerate(OLD):
        await _post(ingress, _client_sale(order_id, f"old{n}@example.com"))
    await eventually(lambda: _applied(db, len(OLD)))
    await _age(db)
    dead = await _dead_letters(amqp, processor)
    totals = await db.fetchval("SELECT sum(total) FROM pos.invoices")

    counted = await _pass(processor, dry_run=True)
    assert counted == {
        "inbox": 5,
        "pii pos.sales.raw": 2,  # 800 and 200 days old; 100 is within 180
        "pii pos.sale_versions.body": 2,
        "pii pos.purchase_orders.raw": 0,
        "history": 2,
        "versions": 1,  # only the sale untouched for 800 days
        "dead letters and unrouted": 2,
    }
    assert await count(db, "SELECT count(*) FROM pos.inbox") == 5  # a dry run changes nothing

    load = asyncio.create_task(_load(ingress))
    await eventually(lambda: _applied(db, len(OLD) + 1), within=30)  # the load is applying
    assert await _pass(processor, dry_run=False) == counted
    await load
    await eventually(lambda: _applied(db, len(OLD) + LOAD), within=60)

    assert await count(db, "SELECT count(*) FROM pos.inbox") == LOAD  # the new ones stay
    assert await count(db, "SELECT count(*) FROM pos.order_history") == len(OLD) + LOAD - 2
    assert (
        await count(db, "SELECT count(*) FROM pos.sale_versions WHERE tevo_order_id = $1", OLD[0])
        == 0
    )
    masked = await db.fetch(
        "SELECT tevo_order_id, raw::text AS raw FROM pos.sales WHERE tevo_order_id = ANY($1)", OLD
    )
    for row in masked:
        mentioned = "@example.com" in row["raw"]
        assert mentioned == (row["tevo_order_id"] not in OLD[:2]), row["tevo_order_id"]
    assert (
        await db.fetchval("SELECT sum(total) FROM pos.invoices WHERE tevo_order_id = ANY($1)", OLD)
        == totals
    )
    assert await queue_depth(amqp, dead) == 1  # the recent one stays
    assert await _pass(processor, dry_run=True) == dict.fromkeys(counted, 0)


async def _applied(db: asyncpg.Connection, n: int) -> bool:
    return await count(db, "SELECT count(*) FROM pos.invoices") >= n


async def _load(ingress: Client) -> None:
    for n in range(LOAD):
        await _post(ingress, _client_sale(31_000_000 + n, f"new{n}@example.com"))
        await asyncio.sleep(0.02)  # a steady stream, not one burst


async def test_a_message_replayed_after_its_inbox_row_went_doubles_nothing(
    processor: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    sale = _client_sale(OLD[0], "replay@example.com")
    purchase = form(
        order("purchase_order"),
        recipient="buyer",
        event_type="order_accepted",
        order_group_id=4651002,
    )
    ids = [await _post(ingress, sale), await _post(ingress, purchase)]
    await eventually(lambda: _inbox_has(db, ids))
    before = await _state(db)
    await db.execute("UPDATE pos.inbox SET applied_at = applied_at - interval '2 days'")
    settings = processor.model_copy(update={"retention_inbox": timedelta(days=1)})
    assert (await _pass(settings, dry_run=False))["inbox"] == 2
    assert await count(db, "SELECT count(*) FROM pos.inbox") == 0

    assert [await _post(ingress, sale), await _post(ingress, purchase)] == ids  # TEvo again
    await eventually(lambda: _inbox_has(db, ids))
    assert await _state(db) == before


async def _inbox_has(db: asyncpg.Connection, ids: list[str]) -> bool:
    found = await count(db, "SELECT count(*) FROM pos.inbox WHERE message_id = ANY($1)", ids)
    return found == len(ids)


async def _state(db: asyncpg.Connection) -> dict[str, object]:
    """Every count and amount a doubled message would change."""
    queries = {
        "sales": "SELECT count(*) FROM pos.sales",
        "invoices": "SELECT count(*) FROM pos.invoices",
        "invoice_lines": "SELECT count(*) FROM pos.invoice_lines",
        "invoiced": "SELECT sum(total) FROM pos.invoices",
        "customers": "SELECT count(*) FROM pos.customers",
        "purchase_orders": "SELECT count(*) FROM pos.purchase_orders",
        "purchase_lines": "SELECT count(*) FROM pos.purchase_order_lines",
        "purchased": "SELECT sum(quantity * price) FROM pos.purchase_order_lines",
        "history": "SELECT count(*) FROM pos.order_history",
        "versions": "SELECT count(*) FROM pos.sale_versions",
        "statuses": "SELECT string_agg(status, ',' ORDER BY id) FROM pos.sales",
    }
    return {name: await db.fetchval(sql) for name, sql in queries.items()}


async def test_an_unmigrated_database_is_one_clear_line_and_nothing_done(
    services: Services, processor_settings: ProcessorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"tevo_empty_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(services.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urlunsplit(urlsplit(services.database_url)._replace(path=f"/{name}"))
        settings = processor_settings.model_copy(update={"database_url": url})
        assert await run_pass(settings, dry_run=False) == 1
        args = argparse.Namespace(action="erase", email="a@example.com", customer=None, by=None)
        assert await privacy.main(argparse.Namespace(**vars(args), yes=True), settings) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 2
        assert all("run `python -m processor migrate` first" in line for line in lines)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
