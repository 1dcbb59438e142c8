"""The set-based path (`pos.sale_batch`) leaves exactly the rows the message-by-message path does.

Each example is a few orders' seller webhooks (Office and Client buyers, any fraud statuses,
times, totals and items, cancels), delivered in a random order, with duplicates, cut into
batches the way the dispatcher makes them (one consumer each, in lock order). The same batches
go to two databases: one applier takes the consumers' set-based path, the other is made to go
message by message. After every batch, every table of the POS must hold the same rows (ids and
clock times aside), and each message must come to the same step.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from processor.errors import ContractViolation
from processor.handler import Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.runtime.message import batch_position
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from processor.tevo.api import TevoApi
from processor.tevo.retry import RetryPolicy
from tests.conftest import Services, _drop_database, _with_database
from tests.fake_tevo import SECRET, TOKEN, FakeTevo
from tests.integration.sales.conftest import CLIENT_GROUP, CONSUMER_BY_KEY, seller_webhook
from tests.payloads import order

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 21, 9, 2, 45, tzinfo=UTC)
IDS = itertools.count(30_000_000)  # fresh order and client ids per example
EVENTS = ["order_created", "order_created", "fraud_response_received", "order_canceled"]
ITEMS = (
    [{"id": 11830400, "price": "150.00", "quantity": 2, "ticket_group": {"id": 522339001}}],
    [{"id": 11830402, "price": "300.00", "quantity": 1, "ticket_group": {"id": 522339077}}],
)
# Columns set from the clock: compared as set or not.
CLOCK = {"created_at", "updated_at", "applied_at", "voided_at", "amended_at", "received_at"}
# Each table's rows as JSON, the surrogate keys replaced by what they stand for.
CUSTOMER = """to_jsonb(t) - 'id' - 'customer_id' || jsonb_build_object('customer',
    (SELECT to_jsonb(c) - 'id' - 'created_at' FROM pos.customers c WHERE c.id = t.customer_id))"""
TABLES = {
    "customers": "to_jsonb(t) - 'id'",
    "sales": CUSTOMER,
    "invoices": CUSTOMER,
    "invoice_lines": """to_jsonb(t) - 'id' - 'invoice_id' || jsonb_build_object('order',
        (SELECT i.tevo_order_id FROM pos.invoices i WHERE i.id = t.invoice_id))""",
    "sale_versions": "to_jsonb(t) - 'id'",
    "order_history": "to_jsonb(t) - 'id'",
    "inbox": "to_jsonb(t)",
    "purchase_orders": "to_jsonb(t) - 'id'",
    "purchase_order_lines": "to_jsonb(t) - 'id'",
}
PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,  # each example is dozens of real transactions on a shared machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclasses.dataclass(frozen=True)
class Spec:
    event_type: str
    fraud: str | None
    minute: int
    shipping: int
    items: int


@pytest.fixture
async def twin(
    services: Services, template_database: str, pool: asyncpg.Pool
) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """The test's pool and one on a second copy of the migrated database."""
    name = f"tevo_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    other = await asyncpg.create_pool(
        _with_database(services.database_url, name), min_size=1, max_size=4
    )
    try:
        yield pool, other
    finally:
        await other.close()
        await _drop_database(services.database_url, name)


def _webhooks(specs: list[Spec], buyer: str) -> list[Inbound]:
    order_id, client_id = next(IDS), next(IDS)
    client = {"id": client_id, "name": "Jordan Avery",
              "email_addresses": [{"address": f"jordan.{client_id}@example.com"}]}  # fmt: skip
    party = (
        {"id": client_id, "type": "Client"} if buyer == "Client" else {"id": 6, "type": "Office"}
    )
    return [
        seller_webhook(
            spec.event_type,
            order(
                "order_client",
                id=order_id,
                buyer=party,
                client=client if buyer == "Client" else None,
                fraud_check_status=spec.fraud,
                shipping=f"{spec.shipping}.00",
                total=str(Decimal("369.15") + spec.shipping),
                items=ITEMS[spec.items],
                updated_at=(T0 + timedelta(minutes=spec.minute)).isoformat(),
            ),
            CLIENT_GROUP,
        )
        for spec in specs
    ]


specs = st.lists(
    st.builds(
        Spec,
        st.sampled_from(EVENTS),
        st.sampled_from([None, "pending", "approved", "declined"]),
        st.integers(0, 4),
        st.sampled_from([0, 20]),
        st.integers(0, len(ITEMS) - 1),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda s: (s.minute, s.fraud),  # digest ties differ by run: keep them apart
)


async def _rows(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """Every table's rows, sorted, without ids; clock times as set or not."""
    found = {}
    async with pool.acquire() as db:
        for table, expression in TABLES.items():
            rows = await db.fetch(f"SELECT {expression} AS j FROM pos.{table} t")  # noqa: S608 - constants
            found[table] = sorted(_without_clock(row["j"]) for row in rows)
    return found


def _without_clock(text: str) -> str:
    row: dict[str, Any] = json.loads(text)
    for name in CLOCK & row.keys():
        row[name] = row[name] is not None
    for nested in ("customer",):
        if isinstance(row.get(nested), dict):
            row[nested].pop("created_at", None)
    return json.dumps(row, sort_keys=True)


def _batches(deliveries: list[Inbound], cuts: list[int]) -> list[tuple[Consumer, list[Inbound]]]:
    """The deliveries cut into batches of one consumer each, in the dispatcher's lock order."""
    batches = []
    start = 0
    for cut in [*sorted(set(cuts)), len(deliveries)]:
        chunk = deliveries[start:cut]
        start = max(start, cut)
        by_consumer: dict[str, list[Inbound]] = {}
        for inbound in chunk:
            by_consumer.setdefault(f"{inbound.recipient}.{inbound.event_type}", []).append(inbound)
        for key, group in by_consumer.items():
            consumer = CONSUMER_BY_KEY[key]
            batches.append((consumer, sorted(group, key=lambda i: batch_position(consumer, i))))
    return batches


def _appliers(
    pools: tuple[asyncpg.Pool, asyncpg.Pool], settings_: ProcessorSettings
) -> tuple[Applier, Applier]:
    deps = Deps(settings_)  # one office cache each: it is filled after commits only
    return (
        Applier(pools[0], deps, ProcessorMetrics()),
        Applier(pools[1], Deps(settings_), ProcessorMetrics()),
    )


def _steps(steps: list[Any]) -> list[tuple[object, ...]]:
    return [
        (s.applied.note if s.applied else None, type(s.error).__name__ if s.error else None)
        for s in steps
    ]


@PROPERTY_SETTINGS
@given(
    orders=st.lists(
        st.tuples(specs, st.sampled_from(["Office", "Client"])), min_size=1, max_size=5
    ),
    data=st.data(),
)
async def test_the_set_based_path_leaves_the_rows_of_the_message_by_message_one(
    twin: tuple[asyncpg.Pool, asyncpg.Pool],
    processor_settings: ProcessorSettings,
    orders: list[tuple[list[Spec], str]],
    data: st.DataObject,
) -> None:
    webhooks = [inbound for specs_, buyer in orders for inbound in _webhooks(specs_, buyer)]
    again = data.draw(st.lists(st.sampled_from(webhooks), max_size=3))  # TEvo's retries
    deliveries = list(data.draw(st.permutations([*webhooks, *again])))
    cuts = data.draw(st.lists(st.integers(0, len(deliveries)), max_size=3))
    batched, alone = _appliers(twin, processor_settings)
    for consumer, batch in _batches(deliveries, cuts):
        one_by_one = dataclasses.replace(consumer, batch=None)
        got = await batched.apply(consumer, batch)
        want = await alone.apply(one_by_one, batch)
        assert _steps(got) == _steps(want)
        assert await _rows(twin[0]) == await _rows(twin[1])
    # the set-based path fell back for what it does not take, never for an error of its own
    assert _fallbacks(batched, "error") == 0


@PROPERTY_SETTINGS
@given(
    orders=st.lists(
        st.tuples(specs, st.sampled_from(["Office", "Client"]), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    data=st.data(),
)
async def test_with_verification_both_paths_ask_tevo_and_agree(
    twin: tuple[asyncpg.Pool, asyncpg.Pool],
    processor_settings: ProcessorSettings,
    tevo: tuple[FakeTevo, TevoApi],
    orders: list[tuple[list[Spec], str, bool]],
    data: st.DataObject,
) -> None:
    """TEvo knows each order as its first body says (later ones may differ), or not at all."""
    fake, api = tevo
    webhooks = []
    for specs_, buyer, known in orders:
        inbounds = _webhooks(specs_, buyer)
        if known:
            fake.add(json.loads(inbounds[0].body))
        webhooks += inbounds
    deliveries = list(data.draw(st.permutations(webhooks)))
    cuts = data.draw(st.lists(st.integers(0, len(deliveries)), max_size=2))
    batched = Applier(twin[0], Deps(processor_settings, tevo_api=api), ProcessorMetrics())
    alone = Applier(twin[1], Deps(processor_settings, tevo_api=api), ProcessorMetrics())
    for consumer, batch in _batches(deliveries, cuts):
        got = await batched.apply(consumer, batch)
        want = await alone.apply(dataclasses.replace(consumer, batch=None), batch)
        assert _steps(got) == _steps(want)
        assert await _rows(twin[0]) == await _rows(twin[1])
    assert _fallbacks(batched, "error") == 0


@pytest.fixture
async def tevo() -> AsyncIterator[tuple[FakeTevo, TevoApi]]:
    fake = FakeTevo()
    async with fake.running() as url, aiohttp.ClientSession() as session:
        yield fake, TevoApi(session, url, SecretStr(TOKEN), SecretStr(SECRET), policy=RetryPolicy())


async def test_a_bad_message_falls_back_and_only_it_fails(
    twin: tuple[asyncpg.Pool, asyncpg.Pool], processor_settings: ProcessorSettings
) -> None:
    batched, _ = _appliers(twin, processor_settings)
    good = [
        *_webhooks([Spec("order_created", None, 1, 0, 0)], "Office"),
        *_webhooks([Spec("order_created", None, 2, 0, 1)], "Office"),
    ]
    bad = dataclasses.replace(good[0], body=b'{"id": "not a number"}', message_id="bad")
    consumer = CONSUMER_BY_KEY["seller.order_created"]
    batch = sorted([*good, bad], key=lambda i: batch_position(consumer, i))
    steps = await batched.apply(consumer, batch)
    failed = [i for i, step in enumerate(steps) if step.error is not None]
    assert [batch[i].message_id for i in failed] == ["bad"]
    assert isinstance(steps[failed[0]].error, ContractViolation)
    assert all(step.applied is not None for i, step in enumerate(steps) if i not in failed)
    assert _fallbacks(batched, "error") == 1
    rows = await _rows(twin[0])
    assert len(rows["sales"]) == 2
    assert len(rows["invoices"]) == 2
    assert len(rows["order_history"]) == 2


async def test_a_batch_of_new_office_sales_takes_the_set_based_path(
    twin: tuple[asyncpg.Pool, asyncpg.Pool], processor_settings: ProcessorSettings
) -> None:
    batched, _ = _appliers(twin, processor_settings)
    consumer = CONSUMER_BY_KEY["seller.order_created"]
    batch = [_webhooks([Spec("order_created", None, 1, 0, n % 2)], "Office")[0] for n in range(8)]
    steps = await batched.apply(consumer, batch)
    assert all(step.applied is not None for step in steps)
    assert _fallbacks(batched) == 0
    rows = await _rows(twin[0])
    assert len(rows["invoices"]) == 8
    assert len(rows["invoice_lines"]) == 8


def _fallbacks(applier: Applier, reason: str | None = None) -> float:
    """The set-based fallbacks the applier counted, of `reason` (None: of any)."""
    total = 0.0
    for metric in applier.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name != "tevo_processor_set_based_fallbacks_total":
                continue
            if reason is None or sample.labels["reason"] == reason:
                total += sample.value
    return total
