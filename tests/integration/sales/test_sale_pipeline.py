"""A Client sale end to end: form POSTs to the ingress, RabbitMQ, the processor, the POS."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.integration.conftest import TOKEN, eventually
from tests.integration.sales.conftest import CLIENT_GROUP, CLIENT_ORDER
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration


async def post(
    ingress: TestClient[web.Request, web.Application], event_type: str, body: Any
) -> None:
    response = await ingress.post(
        f"/webhooks/tevo/{TOKEN}",
        data=form(body, event_type=event_type, order_group_id=CLIENT_GROUP),
        headers=FORM_HEADERS,
    )
    assert response.status == 202


@pytest.mark.usefixtures("processor")
async def test_client_sale_waits_for_riskified_then_is_invoiced_then_voided(
    ingress: TestClient[web.Request, web.Application], db: asyncpg.Connection
) -> None:
    async def sale_in(status: str, history: int) -> asyncpg.Record | None:
        row = await db.fetchrow(
            "SELECT s.status, i.voided_at, i.void_reason, i.total AS invoice_total,"
            " (SELECT count(*) FROM pos.order_history h"
            "  WHERE h.tevo_order_id = s.tevo_order_id) AS history"
            " FROM pos.sales s LEFT JOIN pos.invoices i USING (tevo_order_id)"
            " WHERE s.tevo_order_id = $1",
            CLIENT_ORDER,
        )
        return row if row and (row["status"], row["history"]) == (status, history) else None

    await post(ingress, "order_created", order("order_client"))
    waiting = await eventually(lambda: sale_in("awaiting_fraud_check", 1))
    assert waiting["invoice_total"] is None  # not invoiced yet

    await post(ingress, "fraud_response_received", order("order_client_approved"))
    invoiced = await eventually(lambda: sale_in("invoiced", 2))
    assert str(invoiced["invoice_total"]) == "369.15"

    canceled = order("order_client_approved", state="canceled", updated_at="2026-11-22T08:00:00Z")
    await post(ingress, "order_canceled", canceled)
    voided = await eventually(lambda: sale_in("canceled", 3))
    assert voided["voided_at"] is not None
    assert voided["void_reason"] == "order canceled"
    customers = await db.fetchval(
        "SELECT count(*) FROM pos.customers WHERE tevo_client_id = 3390021"
    )
    assert customers == 1
