"""`python -m processor migrate`: create or upgrade the POS schema and declare the topology."""

from __future__ import annotations

import argparse

import structlog

from processor.broker import connect_broker
from processor.ops.migrate import migrate
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings

log = structlog.get_logger("processor.ops.migrate")

NAME = "migrate"
HELP = "create or upgrade the POS schema and declare every consumer's queues"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    del args
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
