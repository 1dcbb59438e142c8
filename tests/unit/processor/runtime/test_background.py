"""A background task that dies is logged, counted and started again, never silent."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from processor.metrics import ProcessorMetrics
from processor.runtime.background import supervised


async def test_a_task_that_raises_is_logged_counted_and_restarted() -> None:
    metrics, runs = ProcessorMetrics(), asyncio.Queue[int]()
    started = 0

    async def flaky() -> None:
        nonlocal started
        started += 1
        await runs.put(started)
        if started < 3:
            raise RuntimeError("cannot switch to state 11")
        await asyncio.Event().wait()

    with capture_logs() as logs:
        async with supervised("review_watch", flaky, metrics, restart_delay=0.01):
            assert [await asyncio.wait_for(runs.get(), 5) for _ in range(3)] == [1, 2, 3]
    failures = metrics.registry.get_sample_value(
        "tevo_processor_background_failures_total", {"task": "review_watch"}
    )
    assert failures == 2.0
    assert [entry["event"] for entry in logs] == ["background.crashed"] * 2


async def test_the_block_ending_cancels_the_task_without_counting_it() -> None:
    metrics, running = ProcessorMetrics(), asyncio.Event()

    async def forever() -> None:
        running.set()
        await asyncio.Event().wait()

    async with supervised("review_watch", forever, metrics, restart_delay=0.01):
        await asyncio.wait_for(running.wait(), 5)
    failures = metrics.registry.get_sample_value(
        "tevo_processor_background_failures_total", {"task": "review_watch"}
    )
    assert not failures
