"""The review workflow: `python -m processor review ...` on sales the real dispatch applied."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from processor.__main__ import _parser
from processor.commands import review
from processor.handler import Deps
from processor.metrics import ProcessorMetrics
from processor.pos.review_reasons import FRAUD_WAIT_EXCEEDED, NO_FRAUD_STATUS
from processor.pos.review_watch import look_once
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from processor.tevo.api import open_api
from tests.fake_tevo import SECRET, TOKEN, FakeTevo
from tests.integration.conftest import count
from tests.integration.sales.conftest import (
    CLIENT_GROUP,
    CLIENT_ORDER,
    OFFICE_ORDER,
    Seller,
    invoices,
    sale,
)
from tests.payloads import order

pytestmark = pytest.mark.integration

BROKERAGE_ORDER = 10324950


async def cli(settings: ProcessorSettings, *argv: str) -> int:
    args = _parser().parse_args(["review", *argv])
    return await review.main(args, settings)


async def listed(settings: ProcessorSettings, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    capsys.readouterr()
    assert await cli(settings, "list", "--json") == 0
    rows: list[Any] = json.loads(capsys.readouterr().out)
    return rows


async def test_a_client_sale_without_fraud_status_is_listed_with_its_reason(
    seller: Seller, processor_settings: ProcessorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    await seller.send("order_created", order("order_client", fraud_check_status=None), CLIENT_GROUP)
    rows = await listed(processor_settings, capsys)
    assert [(r["tevo_order_id"], r["status"], r["review_reason"]) for r in rows] == [
        (CLIENT_ORDER, "awaiting_fraud_check", NO_FRAUD_STATUS)
    ]


async def test_a_pending_sale_is_flagged_once_past_the_wait_limit(
    seller: Seller,
    db: asyncpg.Connection,
    pool: asyncpg.Pool,
    processor_settings: ProcessorSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)  # pending
    metrics = ProcessorMetrics()
    assert await look_once(pool, processor_settings, metrics) == 0
    assert await listed(processor_settings, capsys) == []
    await db.execute("UPDATE pos.sales SET created_at = now() - interval '5 hours'")
    assert await look_once(pool, processor_settings, metrics) == 1
    assert await look_once(pool, processor_settings, metrics) == 0  # flagged once
    assert (await sale(db, CLIENT_ORDER))["review_reason"] == FRAUD_WAIT_EXCEEDED
    assert metrics.registry.get_sample_value("tevo_pos_fraud_waits_exceeded_total") == 1
    assert metrics.registry.get_sample_value("tevo_sales_awaiting_review") == 1
    assert metrics.registry.get_sample_value("tevo_pos_sales_fraud_wait_exceeded") == 1
    # a later pending update keeps the flag, in the same words
    later = order("order_client", updated_at="2026-11-21T09:30:00Z")
    await seller.send("fraud_response_received", later, CLIENT_GROUP)
    assert (await sale(db, CLIENT_ORDER))["review_reason"] == FRAUD_WAIT_EXCEEDED


async def test_dismiss_and_invoice_resolve_once_each(
    seller: Seller,
    db: asyncpg.Connection,
    processor_settings: ProcessorSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = BROKERAGE_ORDER + 1
    await seller.send("order_created", order("order_brokerage"))
    await seller.send("order_created", order("order_brokerage", id=other))
    assert len(await listed(processor_settings, capsys)) == 2
    dismiss = ("--dismiss", "--note", "a test order", "--by", "ops-anna")
    assert await cli(processor_settings, "resolve", str(BROKERAGE_ORDER), *dismiss) == 0
    assert await cli(processor_settings, "resolve", str(BROKERAGE_ORDER), *dismiss) == 1
    invoice = ("--invoice", "--note", "known broker, billed by hand")
    assert await cli(processor_settings, "resolve", str(other), *invoice) == 0
    assert await cli(processor_settings, "resolve", str(other), *invoice) == 1
    assert await listed(processor_settings, capsys) == []
    assert (await sale(db, BROKERAGE_ORDER))["status"] == "needs_review"
    assert await invoices(db, BROKERAGE_ORDER) == 0
    row = await sale(db, other)
    assert (row["status"], row["review_decision"]) == ("invoiced", "invoice")
    assert await invoices(db, other) == 1
    customer = await db.fetchrow("SELECT * FROM pos.customers WHERE id = $1", row["customer_id"])
    assert customer is not None
    assert (customer["tevo_buyer_type"], customer["tevo_buyer_id"]) == ("Brokerage", 2210)
    notes = await db.fetch(
        "SELECT note FROM pos.order_history WHERE event_type = 'review_resolved' ORDER BY id"
    )
    assert notes[0]["note"] == "review resolved: dismiss by ops-anna; note: a test order"
    assert "invoice created" in notes[1]["note"]
    assert await cli(processor_settings, "resolve", "999", *dismiss) == 2
    # Each decision is in the audit once, with who made it; the refused ones are not.
    acts = await db.fetch(
        "SELECT operator, via, action, order_ids, detail FROM pos.audit ORDER BY id"
    )
    assert [(a["via"], a["action"], a["order_ids"]) for a in acts] == [
        ("cli", "review.dismiss", [BROKERAGE_ORDER]),
        ("cli", "review.invoice", [other]),
    ]
    assert acts[0]["operator"] == "ops-anna"
    assert acts[0]["detail"].endswith("note: a test order")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTevo]:
    tevo = FakeTevo()
    async with tevo.running():
        yield tevo


@pytest.fixture
def verified_settings(processor_settings: ProcessorSettings, fake: FakeTevo) -> ProcessorSettings:
    return processor_settings.model_copy(
        update={"api_url": fake.url, "api_token": SecretStr(TOKEN), "api_secret": SecretStr(SECRET)}
    )


@pytest.fixture
async def verifying_seller(
    pool: asyncpg.Pool, verified_settings: ProcessorSettings
) -> AsyncIterator[Seller]:
    async with AsyncExitStack() as stack:
        api = await open_api(stack, verified_settings)
        deps = Deps(verified_settings, tevo_api=api)
        yield Seller(Applier(pool, deps, ProcessorMetrics()))


async def test_an_office_sale_whose_api_copy_has_no_fraud_status_is_invoiced(
    verifying_seller: Seller, db: asyncpg.Connection, fake: FakeTevo
) -> None:
    fake.add(order("order_office", fraud_check_status=None))
    await verifying_seller.send(
        "order_created", order("order_office", fraud_check_status="approved")
    )
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["review_reason"]) == ("invoiced", None)


async def test_recheck_invoices_a_held_altered_webhook_from_tevos_copy(
    verifying_seller: Seller,
    db: asyncpg.Connection,
    fake: FakeTevo,
    verified_settings: ProcessorSettings,
) -> None:
    fake.add(order("order_office"))
    altered = order("order_office", total="9.99", updated_at="2026-11-20T18:40:00Z")
    await verifying_seller.send("order_created", altered)
    row = await sale(db, OFFICE_ORDER)
    assert row["status"] == "needs_review"
    assert "not confirmed by TEvo" in row["review_reason"]
    assert await invoices(db, OFFICE_ORDER) == 0
    assert await cli(verified_settings, "recheck", str(OFFICE_ORDER)) == 0
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["review_reason"], row["total"]) == (
        "invoiced",
        None,
        Decimal("561.6"),
    )
    total = await db.fetchval(
        "SELECT total FROM pos.invoices WHERE tevo_order_id = $1", OFFICE_ORDER
    )
    assert total == Decimal("561.6")
    assert await cli(verified_settings, "recheck", "--all") == 0  # nothing left to recheck
    assert await invoices(db, OFFICE_ORDER) == 1
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 2


async def test_recheck_needs_the_api_and_a_known_order(
    processor_settings: ProcessorSettings, verified_settings: ProcessorSettings
) -> None:
    assert await cli(processor_settings, "recheck", "--all") == 2
    assert await cli(verified_settings, "recheck", "12345") == 2


async def test_show_prints_the_sale_its_invoice_and_history_but_no_body(
    seller: Seller, processor_settings: ProcessorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    await seller.send("order_created", order("order_client", fraud_check_status="approved"))
    capsys.readouterr()
    assert await cli(processor_settings, "show", str(CLIENT_ORDER)) == 0
    out = capsys.readouterr().out
    assert "invoice 1: total 369.15" in out
    assert "new -> invoiced; invoice created" in out
    assert "Jordan" not in out  # the buyer's details stay out
    assert "example.com" not in out
    assert await cli(processor_settings, "show", "999") == 2


@pytest.mark.parametrize("raised_first", [False, True], ids=["created-first", "raised-first"])
async def test_the_office_example_under_verification_ends_on_tevos_newest_total(
    verifying_seller: Seller, db: asyncpg.Connection, fake: FakeTevo, raised_first: bool
) -> None:
    created = order("order_office")  # total 561.6
    raised = order("order_office_delivery_updated", shipping="35.0", total="581.6", balance="581.6")
    fake.add(raised)  # TEvo's API shows the order as it is now
    steps = [("order_created", created), ("delivery_updated", raised)]
    for event_type, body in reversed(steps) if raised_first else steps:
        await verifying_seller.send(event_type, body)
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["review_reason"], row["total"]) == (
        "invoiced",
        None,
        Decimal("581.6"),
    )
    invoiced = "SELECT total FROM pos.invoices WHERE tevo_order_id = $1"
    assert await db.fetchval(invoiced, OFFICE_ORDER) == Decimal("581.6")
    assert await invoices(db, OFFICE_ORDER) == 1


async def test_a_forged_approval_under_a_genuine_newer_body_invoices_nothing(
    verifying_seller: Seller, db: asyncpg.Connection, fake: FakeTevo
) -> None:
    fake.add(order("order_client"))  # TEvo: still pending
    forged = order("order_client_approved", updated_at="2026-11-21T09:05:00Z")
    await verifying_seller.send("fraud_response_received", forged, CLIENT_GROUP)
    genuine = order("order_client", updated_at="2026-11-21T09:10:00Z")  # pending, newer
    await verifying_seller.send("delivery_updated", genuine, CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert row["status"] == "needs_review"
    assert "not confirmed by TEvo" in row["review_reason"]
    assert "fraud_check_status" in row["review_reason"]
    assert await invoices(db, CLIENT_ORDER) == 0


async def test_resolve_invoice_under_verification_asks_tevo_first(
    seller: Seller, db: asyncpg.Connection, fake: FakeTevo, verified_settings: ProcessorSettings
) -> None:
    fake.add(order("order_brokerage"))
    await seller.send("order_created", order("order_brokerage"))
    forged = order("order_brokerage", id=BROKERAGE_ORDER + 1)  # TEvo does not know it
    await seller.send("order_created", forged)
    invoice = ("--invoice", "--note", "checked with the broker")
    assert await cli(verified_settings, "resolve", str(BROKERAGE_ORDER), *invoice) == 0
    assert await invoices(db, BROKERAGE_ORDER) == 1
    assert await cli(verified_settings, "resolve", str(BROKERAGE_ORDER + 1), *invoice) == 1
    assert await invoices(db, BROKERAGE_ORDER + 1) == 0
    seen = [path for path in fake.seen if path.startswith("GET /v9/orders/")]
    assert seen == [f"GET /v9/orders/{BROKERAGE_ORDER}", f"GET /v9/orders/{BROKERAGE_ORDER + 1}"]
