"""Verification before invoicing: a webhook TEvo confirms is invoiced, a forged one is kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from processor.settings import ProcessorSettings
from tests.fake_tevo import SECRET, TOKEN, FakeTevo
from tests.integration.conftest import TOKEN as WEBHOOK_TOKEN
from tests.integration.conftest import count, eventually
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]

TRUE_ORDER = order()  # TEvo knows it exactly as the webhook says


@pytest.fixture
async def fake() -> AsyncIterator[FakeTevo]:
    tevo = FakeTevo()
    tevo.add(TRUE_ORDER)
    async with tevo.running():
        yield tevo


@pytest.fixture
def processor_settings(processor_settings: ProcessorSettings, fake: FakeTevo) -> ProcessorSettings:
    return processor_settings.model_copy(
        update={"api_url": fake.url, "api_token": SecretStr(TOKEN), "api_secret": SecretStr(SECRET)}
    )


async def _sale(db: asyncpg.Connection, order_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM pos.sales WHERE tevo_order_id = $1", order_id)


async def _post(ingress: Client, body: dict[str, object]) -> None:
    response = await ingress.post(
        f"/webhooks/tevo/{WEBHOOK_TOKEN}", data=form(body), headers=FORM_HEADERS
    )
    assert response.status == 202


@pytest.mark.usefixtures("processor")
async def test_a_webhook_tevo_confirms_is_invoiced(ingress: Client, db: asyncpg.Connection) -> None:
    await _post(ingress, TRUE_ORDER)
    sale = await eventually(lambda: _sale(db, 10324712))
    assert sale["status"] == "invoiced"
    assert sale["review_reason"] is None
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1


@pytest.mark.usefixtures("processor")
async def test_a_forged_total_is_kept_for_review_and_not_invoiced(
    ingress: Client, db: asyncpg.Connection
) -> None:
    await _post(ingress, {**TRUE_ORDER, "total": "9.99"})
    sale = await eventually(lambda: _sale(db, 10324712))
    assert sale["status"] == "needs_review"
    assert "not confirmed by TEvo" in sale["review_reason"]
    assert "total" in sale["review_reason"]
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 0


@pytest.mark.usefixtures("processor")
async def test_an_order_tevo_does_not_know_is_kept_for_review(
    ingress: Client, db: asyncpg.Connection
) -> None:
    await _post(ingress, order(id=99999999))
    sale = await eventually(lambda: _sale(db, 99999999))
    assert sale["status"] == "needs_review"
    assert "TEvo has no order 99999999" in sale["review_reason"]
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 0


@pytest.mark.usefixtures("processor")
async def test_an_api_outage_pauses_and_then_invoices_once(
    ingress: Client, db: asyncpg.Connection, fake: FakeTevo
) -> None:
    fake.down = True
    await _post(ingress, TRUE_ORDER)

    async def retried() -> bool | None:
        return len(fake.seen) >= 3 or None  # one fetch: the client tried three times

    await eventually(retried)
    assert await _sale(db, 10324712) is None  # nothing applied while TEvo cannot answer
    fake.down = False
    sale = await eventually(lambda: _sale(db, 10324712), within=20)
    assert sale["status"] == "invoiced"
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 1


@pytest.mark.usefixtures("processor")
async def test_a_purchase_tevo_does_not_confirm_is_flagged(
    ingress: Client, db: asyncpg.Connection
) -> None:
    purchase = order("purchase_order")
    response = await ingress.post(
        f"/webhooks/tevo/{WEBHOOK_TOKEN}",
        data=form(purchase, recipient="buyer", event_type="order_accepted"),
        headers=FORM_HEADERS,
    )
    assert response.status == 202

    async def flagged() -> asyncpg.Record | None:
        return await db.fetchrow(
            "SELECT review_reason FROM pos.purchase_orders WHERE tevo_order_id = $1",
            purchase["id"],
        )

    row = await eventually(flagged)
    assert row["review_reason"] == f"not confirmed by TEvo: TEvo has no order {purchase['id']}"


IN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
"""
ADVISORY_LOCKS = """
SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database
WHERE pg_locks.locktype = 'advisory' AND pg_database.datname = current_database()
"""


@pytest.mark.usefixtures("processor")
async def test_a_slow_tevo_holds_no_transaction_and_no_lock(
    ingress: Client, db: asyncpg.Connection, fake: FakeTevo
) -> None:
    fake.slow = 2.0
    await _post(ingress, TRUE_ORDER)

    async def asked() -> bool | None:
        return bool(fake.seen) or None

    await eventually(asked)  # the processor waits for TEvo's answer now
    assert await count(db, IN_TRANSACTION) == 0  # no pool connection held in a transaction
    assert await count(db, ADVISORY_LOCKS) == 0  # and no order locked
    sale = await eventually(lambda: _sale(db, 10324712), within=20)
    assert sale["status"] == "invoiced"
