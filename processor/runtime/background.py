"""Run a background task while a block runs: one that dies is logged, counted and restarted.

A task nobody awaits dies silently: its exception waits in the task object until it is
collected. The review watch died that way on an error its loop did not expect, and the gauges
and alerts that depend on it froze. Here an ending other than a cancel is an error line, a
count (`tevo_processor_background_failures_total{task}`, alerted on) and, after a pause, a
fresh start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from processor.metrics import ProcessorMetrics

log = structlog.get_logger("processor.runtime.background")


@contextlib.asynccontextmanager
async def supervised(
    name: str,
    run: Callable[[], Awaitable[None]],
    metrics: ProcessorMetrics,
    *,
    restart_delay: float,
) -> AsyncIterator[None]:
    """Run `run()` until the block ends, again `restart_delay` seconds after each failure."""
    task = asyncio.create_task(_keep_running(name, run, metrics, restart_delay), name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])  # let it end; its CancelledError stays inside the task


async def _keep_running(
    name: str, run: Callable[[], Awaitable[None]], metrics: ProcessorMetrics, delay: float
) -> None:
    while True:
        try:
            await run()
            log.error("background.ended", task=name, restart_in=delay)
        # The supervisor of last resort, so broad on purpose: whatever ended the task, it is
        # logged with its traceback, counted and restarted. A cancel (a BaseException) passes.
        except Exception as exc:
            log.exception(
                "background.crashed", task=name, restart_in=delay, error=type(exc).__name__
            )
        metrics.background_failures.labels(name).inc()
        await asyncio.sleep(delay)
