"""`python -m processor retention run [--dry-run] [--every MINUTES]`: forget what is past its keep
period, as the TEVO_RETENTION_* settings say (`processor.ops.retention`).

Prints one line per kind of data: how many rows or messages went (with `--dry-run`, how many
would), and the cutoff; progress goes to stderr on a terminal. Cutoffs are taken from the
database's clock once per pass. `--every` repeats until SIGTERM (compose's retention profile);
a pass that fails on an outage is logged and the next one tries again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import datetime, timedelta
from typing import TextIO

import asyncpg
import structlog
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity

from processor.broker import connect_once
from processor.commands.reconcile import _minutes
from processor.commands.unreachable import UNREACHABLE
from processor.ops import retention
from processor.ops.migrate import pending
from processor.ops.progress import bar
from processor.ops.retention_queues import expire, held_queues
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings

log = structlog.get_logger("processor.ops.retention")

NAME = "retention"
HELP = "forget inbox rows, history, versions, contact details and dead letters past their keep"
# A pass that meets one of these is tried again at the next: the stores come back.
OUTAGES: tuple[type[BaseException], ...] = (*UNREACHABLE, asyncpg.InterfaceError, AMQPError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("run",))
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
    parser.add_argument(
        "--every",
        type=_minutes,
        metavar="MINUTES",
        help="repeat every MINUTES until SIGTERM; without it, one pass",
    )


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    if args.every is None:
        return await run_pass(settings, dry_run=args.dry_run)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            await run_pass(settings, dry_run=args.dry_run)
        except OUTAGES as exc:
            log.warning("retention.pass_failed", error_type=type(exc).__name__, error=str(exc))
        try:
            async with asyncio.timeout(args.every * 60):
                await stop.wait()
        except TimeoutError:
            continue
    return 0


async def run_pass(settings: ProcessorSettings, *, dry_run: bool, out: TextIO | None = None) -> int:
    """One pass over every kind of data; exit status 1 when the schema or a queue is missing."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        if await unmigrated(conn, NAME):
            return 1
        now: datetime = await conn.fetchval("SELECT now()")
        for step in retention.steps():
            keep: timedelta = getattr(settings, step.setting)
            cutoff = now - keep
            found = await retention.count(conn, step, cutoff)
            if not dry_run and found:
                with bar(f"retention {step.name}", unit="row") as progress:
                    progress.reset(total=found)
                    found = await retention.forget(
                        conn, step, cutoff, settings.retention_batch, progress
                    )
            verb = ("would mask" if dry_run else "masked") if step.masks else None
            verb = verb or ("would delete" if dry_run else "deleted")
            _say(out, f"{step.name}: {verb} {found} (before {cutoff.isoformat()})")
    finally:
        await conn.close()
    return await _held(settings, now - settings.retention_dead_letters, dry_run, out)


async def _held(
    settings: ProcessorSettings, cutoff: datetime, dry_run: bool, out: TextIO | None
) -> int:
    verb = "would drop" if dry_run else "dropped"
    connection = await connect_once(settings, NAME)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queues = held_queues(settings.topology, CONSUMERS)
        try:
            with bar("retention dead letters") as progress:
                done = await expire(channel, queues, cutoff, dry_run=dry_run, progress=progress)
        except ChannelNotFoundEntity as exc:
            _say(out, f"{exc.args[-1]}: has `python -m processor migrate` run?")
            return 1
    dropped = sum(len(r.dropped) for r in done)
    _say(out, f"dead letters and unrouted: {verb} {dropped} (before {cutoff.isoformat()})")
    for reworked in done:
        if reworked.dropped:
            # the record of what went: ids only, a body holds buyer details
            log.info("retention.dropped", queue=reworked.queue, message_ids=reworked.dropped)
    if not dry_run:
        log.info("retention.done", dead_letters_dropped=dropped)
    return 0


async def unmigrated(conn: asyncpg.Connection, command: str) -> bool:
    """True, after saying so on stderr, when the schema lacks a migration of this release."""
    missing = await pending(conn)
    if missing:
        print(
            f"{command}: the POS schema lacks migrations {missing}: "
            "run `python -m processor migrate` first",
            file=sys.stderr,
        )
    return bool(missing)


def _say(out: TextIO | None, line: str) -> None:
    print(line, file=out, flush=True)
