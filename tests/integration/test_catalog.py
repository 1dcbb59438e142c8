"""Catalog webhooks (`event_created`, `event_updated`, `event_deleted`) end up in the POS."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts import message_id
from processor.handler import Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.dispatch import Outcome
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, apply_one, eventually, outcomes, running
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
EVENT_ID = 1822041
CATALOG = next(consumer for consumer in CONSUMERS if consumer.name == "catalog.events")


def catalog_form(event_type: str, body: dict[str, Any]) -> str:
    # Catalog webhooks name the event instead of an order group.
    return form(body, event_type=event_type, order_group_id=None, event_id=str(EVENT_ID))


async def test_a_catalog_webhook_through_the_ingress_is_stored(
    processor_settings: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    async with running(processor_settings) as metrics:
        for event_type in ("event_created", "event_deleted"):
            response = await ingress.post(
                f"/webhooks/tevo/{TOKEN}",
                data=catalog_form(event_type, order("catalog_event")),
                headers=FORM_HEADERS,
            )
            assert response.status == 202

        async def both_applied() -> bool:
            return outcomes(metrics, "catalog.events", "applied") == 2

        await eventually(both_applied)
    row = await db.fetchrow("SELECT * FROM pos.catalog_events")
    assert row is not None
    assert (row["event_id"], row["name"], row["venue_id"], row["venue_name"]) == (
        EVENT_ID,
        "Hamilton",
        1203,
        "Richard Rodgers Theatre",
    )
    assert row["occurs_at"] == datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    assert row["deleted_at"] == datetime(2026, 11, 22, 9, 15, 3, tzinfo=UTC)
    assert json.loads(row["raw"])["performances"][0]["performer"]["name"] == "Hamilton"


def inbound(event_type: str, body: dict[str, Any]) -> Inbound:
    raw = json.dumps(body).encode()
    return Inbound(
        message_id=message_id("catalog", event_type, None, raw),
        recipient="catalog",
        event_type=event_type,
        body=raw,
        event_id=body["id"],
        received_at=datetime.now(UTC),
    )


async def test_every_arrival_order_keeps_the_newest_version_and_the_deletion(
    processor_settings: ProcessorSettings,
) -> None:
    pool = await asyncpg.create_pool(processor_settings.database_url, min_size=1, max_size=2)
    deps = Deps(processor_settings)
    applier = Applier(pool, deps, ProcessorMetrics())
    kept = []
    try:
        for n, arrival in enumerate(itertools.permutations(range(3))):
            event = order("catalog_event", id=EVENT_ID + n)
            updated = {**event, "name": "Hamilton (moved)"}
            steps = [
                inbound("event_created", {**event, "updated_at": "2026-11-01T10:00:00Z"}),
                inbound("event_updated", updated),
                # deleted a day later, the body the same version as the update's
                inbound("event_deleted", {**updated, "deleted_at": "2026-11-23T09:00:00Z"}),
            ]
            for index in arrival:
                assert await apply_one(applier, CATALOG, steps[index]) is Outcome.APPLIED
            row = await pool.fetchrow(
                "SELECT name, event_type, deleted_at FROM pos.catalog_events WHERE event_id = $1",
                EVENT_ID + n,
            )
            assert row is not None
            kept.append(tuple(row))
    finally:
        await pool.close()
    deleted_at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert kept == [("Hamilton (moved)", "event_deleted", deleted_at)] * 6
