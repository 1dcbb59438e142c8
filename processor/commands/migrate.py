"""`python -m processor migrate`: create or upgrade the POS schema and declare the topology.

It also sets the queues' policies through RabbitMQ's management API
(`processor.ops.broker_policies`); when that API cannot be reached it warns once, saying what to
run instead, and still succeeds: the queues work without their policies until RabbitMQ 4.

`--wait SECONDS` (default 60) lets it start before its services: it retries refused connections
to Postgres and RabbitMQ for that long, so compose or an init container may start everything at
once. After that, or on a configuration error (refused credentials, a missing database), it
exits 1 with the reason.
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
import structlog

from processor.app import (
    ConfigurationError,
    StoppedBeforeStart,
    broker_address,
    database_address,
    until_connected,
)
from processor.broker import connect_broker
from processor.ops.broker_policies import ManagementApi, PoliciesNotSet, apply_policies
from processor.ops.definitions import policies
from processor.ops.migrate import migrate
from processor.registry import CONSUMERS
from processor.runtime.topology import all_queues, declare
from processor.settings import ProcessorSettings

log = structlog.get_logger(__name__)

NAME = "migrate"
HELP = "create or upgrade the POS schema and declare every consumer's queues"
DEFAULT_WAIT = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for Postgres and RabbitMQ to answer (default {DEFAULT_WAIT:g})",
    )


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    gave_up = asyncio.Event()  # set when the wait is over: `until_connected` stops retrying
    timer = asyncio.get_running_loop().call_later(max(args.wait, 0), gave_up.set)
    try:
        # Wait for a connection, not for the migration: a failing migration must fail at once.
        probe = await until_connected(
            "database",
            lambda: asyncpg.connect(settings.database_url),
            gave_up,
            address=database_address(settings),
        )
        await probe.close()
        connection = await until_connected(
            "broker",
            lambda: connect_broker(settings, role="migrate"),
            gave_up,
            address=broker_address(settings),
        )
    except (StoppedBeforeStart, ConfigurationError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.error("migrate.failed", waited_s=args.wait, error=error)  # noqa: TRY400 - the reason says it all; a traceback would bury it
        return 1
    finally:
        timer.cancel()
    applied = await migrate(settings.database_url)
    async with connection:
        channel = await connection.channel()
        await declare(channel, settings.topology, CONSUMERS, settings.retry_delays)
    policies_set = await set_policies(settings)
    log.info(
        "migrate.done",
        migrations_applied=applied,
        consumers=len(CONSUMERS),
        namespace=settings.namespace,
        policies=policies_set,
    )
    return 0


async def set_policies(settings: ProcessorSettings) -> int:
    """Set the namespace's policies; 0 and one warning saying what to do when it cannot."""
    api = ManagementApi.of(settings.brokers.urls[0], settings.rabbitmq_api_url)
    queues = all_queues(settings.topology, CONSUMERS, settings.retry_delays)
    try:
        return await apply_policies(api, settings.brokers.vhost, policies(queues))
    except PoliciesNotSet as exc:
        log.warning(
            "migrate.policies_not_set",
            reason=str(exc),
            fix="set TEVO_RABBITMQ_API_URL to the management API and run migrate again, or "
            "import the policies: `python -m processor generate --root DIR` with this "
            "TEVO_NAMESPACE, then `rabbitmqctl import_definitions "
            "DIR/deploy/rabbitmq/definitions.json` (docs/operations.md)",
        )
        return 0
