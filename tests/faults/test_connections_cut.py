"""Postgres cutting the processor's connections under load (`pg_terminate_backend` sweeps).

A pooled connection cut mid-operation raises errors of several kinds (asyncpg's "cannot switch
to state", ConnectionDoesNotExistError, AdminShutdownError, InterfaceError); each must read as
"the database is unreachable" everywhere. Done means: every accepted webhook applied exactly
once, nothing stranded unacked behind a green /readyz, and the review watch still updating
its gauges afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import pytest

from tests.faults.conftest import Stack, exactly_once
from tests.faults.load import accepted_at_least
from tests.faults.test_faults import report, under_load
from tests.integration.conftest import eventually
from tests.payloads import order

pytestmark = pytest.mark.faults

SWEEPS = 120
SWEEP_PACE = 0.05  # seconds between two sweeps: connections cut mid-statement, mid-probe
TERMINATE_SQL = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""
HELD_LIMIT = 40.0  # the processor's TEVO_HELD_DELIVERY_LIMIT in this test


@pytest.mark.stack_env(TEVO_REVIEW_WATCH_INTERVAL="0.3", TEVO_HELD_DELIVERY_LIMIT=str(HELD_LIMIT))
async def test_connections_cut_under_load_lose_nothing_and_strand_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = 0
    admin = await stack.db()
    try:
        async with under_load(stack) as load:
            for sweep in range(SWEEPS):
                cut += await admin.fetchval(TERMINATE_SQL)
                await asyncio.sleep(SWEEP_PACE)  # the adversary's pace, not a wait for anything
                if sweep % 20 == 19:
                    await eventually(accepted_at_least(load, len(load.accepted) + 10), within=60)
        counts = await exactly_once(stack, load)
    finally:
        await admin.close()
    counts |= {"sweeps": SWEEPS, "connections_cut": cut}
    # acks follow their commits by a moment; a stranded delivery is never acked
    with contextlib.suppress(AssertionError):
        await eventually(lambda: _none_held(stack), within=HELD_LIMIT, interval=0.5)
    counts["stranded"] = await _stranded(stack)
    counts["background_restarts"] = _metric(
        await _metrics(stack), "tevo_processor_background_failures_total", 'task="review_watch"'
    )
    report(capsys, "Postgres connections cut under load", counts)
    assert cut >= SWEEPS, "the sweeps cut nothing: no fault happened"
    assert counts["stranded"] == 0, stack.processor.tail()
    assert (await stack.processor_get("/readyz"))[0] == 200
    await _review_gauge_still_updates(stack)
    assert stack.processor.running, stack.processor.tail()


async def _metrics(stack: Stack) -> str:
    status, text = await stack.processor_get("/metrics")
    assert status == 200
    return text


def _metric(text: str, name: str, labels: str = "") -> int:
    pattern = rf"^{re.escape(name)}(?:\{{{re.escape(labels)}\}})? ([0-9.e+]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return 0 if match is None else int(float(match[1]))


async def _none_held(stack: Stack) -> bool | None:
    return await _stranded(stack) == 0 or None


async def _stranded(stack: Stack) -> int:
    """Deliveries the processor still holds unacked once everything was applied: none may be."""
    listing = await stack.private.rabbit.ctl("list_queues", "name", "messages_unacknowledged")
    unacked = 0
    for line in listing.splitlines():
        name, _, count = line.rpartition("\t")
        if name.startswith(stack.topology.namespace) and count.isdigit():
            unacked += int(count)
    return unacked


async def _review_gauge_still_updates(stack: Stack) -> None:
    """A sale that needs a person, made after the sweeps, shows up in the watch's gauge."""
    conn = await stack.db()
    try:
        body = order(id=99_000_001, oid="RREVIEW")
        body["buyer"] = {"id": 77, "type": "Brokerage", "name": "Another broker"}
        await conn.execute(
            "INSERT INTO pos.sales (tevo_order_id, order_group_id, buyer_type, buyer_id, status,"
            " review_reason, raw) VALUES ($1, 4606857, 'Brokerage', 77, 'needs_review',"
            " 'buyer type Brokerage', $2::jsonb)",
            99_000_001,
            json.dumps(body),
        )
    finally:
        await conn.close()

    async def counted() -> bool | None:
        return _metric(await _metrics(stack), "tevo_sales_awaiting_review") >= 1 or None

    await eventually(counted, within=30, interval=0.3)
