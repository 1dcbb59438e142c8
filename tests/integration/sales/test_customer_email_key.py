"""One buyer, one customer: e-mail spellings fold to one key on a C-locale database too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from processor.handler import Deps
from processor.metrics import ProcessorMetrics
from processor.migrations import migration_files
from processor.ops.migrate import migrate
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from tests.conftest import Services, _drop_database, _with_database
from tests.integration.conftest import count
from tests.integration.sales.conftest import CLIENT_GROUP, Seller
from tests.payloads import order

SPELLINGS = ["ZOË.ÑÚÑEZ@Exämple.COM", "zoë.ñúñez@exämple.com", "  Zoë.Ñúñez@EXÄMPLE.com "]


@pytest.fixture
async def c_locale_url(services: Services) -> AsyncIterator[str]:
    """An empty database whose ctype is C, as CloudNativePG creates by default."""
    name = f"tevo_c_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
            " LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    finally:
        await admin.close()
    yield _with_database(services.database_url, name)
    await _drop_database(services.database_url, name)


def _client_order(number: int, email: str) -> dict[str, Any]:
    body = order("order_client", id=10324800 + number, fraud_check_status="approved")
    body["buyer"]["id"] = body["client"]["id"] = 3390021 + number  # three client ids, one address
    body["client"]["email_addresses"] = [{"address": email}]
    return body


async def test_three_spellings_of_one_address_make_one_customer_under_a_c_ctype(
    c_locale_url: str, processor_settings: ProcessorSettings
) -> None:
    await migrate(c_locale_url)
    pool = await asyncpg.create_pool(c_locale_url, min_size=1, max_size=2)
    try:
        seller = Seller(Applier(pool, Deps(processor_settings), ProcessorMetrics()))
        for number, email in enumerate(SPELLINGS):
            await seller.send("order_created", _client_order(number, email), CLIENT_GROUP)
    finally:
        await pool.close()
    db = await asyncpg.connect(c_locale_url)
    try:
        assert await db.fetchval("SHOW lc_ctype") == "C"
        assert await count(db, "SELECT count(*) FROM pos.customers") == 1
        assert await count(db, "SELECT count(DISTINCT customer_id) FROM pos.sales") == 1
        assert await count(db, "SELECT count(*) FROM pos.sales") == 3
    finally:
        await db.close()


async def test_the_migration_merges_the_customers_that_are_one_keeping_their_sales(
    c_locale_url: str,
) -> None:
    db = await asyncpg.connect(c_locale_url)
    try:
        await _migrate_before_email_keys(db)
        for number, email in enumerate(SPELLINGS):
            customer = await db.fetchval(
                "INSERT INTO pos.customers (tevo_client_id, name, email) VALUES ($1, $2, $3)"
                " RETURNING id",
                None if number == 0 else 3390021 + number,
                None if number == 0 else "Zoë Núñez",
                email,
            )
            await db.execute(
                "INSERT INTO pos.sales (tevo_order_id, order_group_id, buyer_type, customer_id,"
                " status, raw) VALUES ($1, $2, 'Client', $3, 'awaiting_fraud_check', '{}')",
                10324800 + number,
                CLIENT_GROUP,
                customer,
            )
        assert await count(db, "SELECT count(*) FROM pos.customers") == 3  # lower() saw three
        assert await migrate(c_locale_url) == [version for version, *_ in _from(7)]
        (kept,) = await db.fetch("SELECT * FROM pos.customers")
        assert kept["email_key"] == "zoë.ñúñez@exämple.com"
        assert kept["email"] == SPELLINGS[0]  # the oldest survives, and learns what it lacked
        assert (kept["tevo_client_id"], kept["name"]) == (3390022, "Zoë Núñez")
        sales = await db.fetch("SELECT customer_id FROM pos.sales")
        assert [sale["customer_id"] for sale in sales] == [kept["id"]] * 3
    finally:
        await db.close()


def _from(version: int) -> list[tuple[int, str, str]]:
    return [migration for migration in migration_files() if migration[0] >= version]


async def _migrate_before_email_keys(db: asyncpg.Connection) -> None:
    """The schema as it was before migration 007."""
    await db.execute(
        "CREATE SCHEMA pos; CREATE TABLE pos.schema_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for version, name, sql in migration_files():
        if version < 7:
            await db.execute(sql)
            await db.execute("INSERT INTO pos.schema_migrations VALUES ($1, $2)", version, name)
