"""`python -m processor reconcile [--every [MINUTES]]`: publish pending sales the POS missed."""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import asyncpg
import structlog
from aio_pika.abc import AbstractExchange

from processor.broker import connect_broker
from processor.errors import Permanent, ProcessingError
from processor.ops import audit
from processor.ops.progress import bar
from processor.ops.reconcile import Tally, reconcile_once
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from processor.tevo.api import TevoApi, open_api

log = structlog.get_logger(__name__)

NAME = "reconcile"
HELP = "publish pending TEvo sales the POS has not seen as order_created (needs TEVO_API_*)"
DEFAULT_EVERY = 5.0  # minutes: TEvo's advice for this safety net


def _minutes(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"MINUTES must be a positive number, not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--every",
        nargs="?",
        const=DEFAULT_EVERY,
        type=_minutes,
        metavar="MINUTES",
        help=f"repeat every MINUTES ({DEFAULT_EVERY:g} if none given) until SIGTERM; "
        "without it, one pass",
    )
    parser.add_argument("--by", default=None, help="who runs it, for the audit (default: OS user)")


async def repeat(
    run_pass: Callable[[], Awaitable[object]], every_s: float | None, stop: asyncio.Event
) -> int:
    """Run `run_pass` once (exit status 1 if it failed), or every `every_s` until `stop`.

    A failed pass is logged and the next one tries again: a poller that outlives TEvo's and
    RabbitMQ's outages, and nags about refused credentials until someone fixes them.
    """
    while True:
        try:
            await run_pass()
        except ProcessingError as exc:
            level = log.error if isinstance(exc, Permanent) else log.warning
            level("reconcile.pass_failed", error_type=type(exc).__name__, error=str(exc))
            if every_s is None:
                return 1
        if every_s is None:
            return 0
        try:
            async with asyncio.timeout(every_s):
                await stop.wait()
        except TimeoutError:
            continue
        return 0


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    every_s = None if args.every is None else args.every * 60
    stop = asyncio.Event()
    if every_s is not None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        api = await open_api(stack, settings)
        if api is None:
            log.error("reconcile.not_configured", missing="TEVO_API_TOKEN, TEVO_API_SECRET")
            return 2
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        connection = await connect_broker(settings, role=NAME)
        stack.push_async_callback(connection.close)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        # Declared as migrate does, so what this publishes waits in its consumer's queue even
        # before the first processor has started.
        await declare(channel, settings.topology, CONSUMERS, settings.retry_delays)
        exchange = await channel.get_exchange(settings.topology.webhooks_exchange)
        log.info("reconcile.started", every_s=every_s, namespace=settings.namespace)
        by = audit.cli_operator(getattr(args, "by", None))
        return await repeat(lambda: _pass(api, pool, exchange, by, every_s), every_s, stop)


async def _pass(
    api: TevoApi, pool: asyncpg.Pool, exchange: AbstractExchange, by: str, every_s: float | None
) -> Tally:
    with bar("reconciling pending sales", unit="order") as progress:
        tally = await reconcile_once(api, pool, exchange, progress)
    # A one-off run is an operator's act; a repeating poller's pass is one when it published.
    if every_s is None or tally.published:
        detail = (
            f"listed {tally.listed}, known {tally.known}, published {tally.published}, "
            f"skipped {tally.skipped}" + ("" if every_s is None else f" (every {every_s:g} s)")
        )
        async with pool.acquire() as conn:
            await audit.record(conn, audit.Act(by, "cli", "reconcile.run", detail))
    return tally
