"""`python -m processor [run|migrate]`: run every consumer, or prepare the database and broker."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import structlog
from pydantic import ValidationError

from contracts.logs import configure_logging
from processor.migrate import migrate
from processor.registry import CONSUMERS
from processor.runtime import connect_broker, run
from processor.settings import ProcessorSettings
from processor.topology import declare

log = structlog.get_logger("processor")


async def _run(settings: ProcessorSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, CONSUMERS, stop)
    return 0


async def _migrate(settings: ProcessorSettings) -> int:
    applied = await migrate(settings.database_url)
    connection = await connect_broker(settings, role="migrate")
    async with connection:
        channel = await connection.channel()
        await declare(channel, settings.topology, CONSUMERS, settings.retry_delays)
    log.info(
        "migrate.done",
        migrations_applied=applied,
        consumers=len(CONSUMERS),
        namespace=settings.namespace,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m processor", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="consume every registered consumer's queue (the default)")
    commands.add_parser("migrate", help="create or upgrade the POS schema and declare the topology")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = ProcessorSettings()
    except ValidationError as exc:
        print(f"processor: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    command = {"migrate": _migrate}.get(args.command, _run)
    return asyncio.run(command(settings))


if __name__ == "__main__":
    sys.exit(main())
