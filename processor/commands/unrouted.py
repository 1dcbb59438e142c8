"""`python -m processor unrouted list|move`: see the webhooks no consumer took, and hand them over.

The work is `processor.ops.unrouted`'s; this is its command line. Neither action prints a body
(they hold buyer PII).
"""

from __future__ import annotations

import argparse

import asyncpg

from processor import registry
from processor.broker import connect_once
from processor.ops import audit
from processor.ops.progress import bar
from processor.ops.unrouted import list_unrouted, move_unrouted
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings

NAME = "unrouted"
HELP = "list the webhooks no consumer took, or move them to the consumers registered now"
LIST_LIMIT = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "move"))
    parser.add_argument(
        "--limit",
        type=_positive,
        default=None,
        help=f"at most N messages (list: {LIST_LIMIT} unless given; move: the whole queue)",
    )
    parser.add_argument("--by", default=None, help="who moves, for the audit (default: OS user)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    topology = settings.topology
    consumers = registry.CONSUMERS  # as registered when the command runs, not when imported
    connection = await connect_once(settings, "unrouted")
    async with connection:
        if args.action == "list":
            lines = await list_unrouted(connection, topology, consumers, args.limit or LIST_LIMIT)
            if lines is None:
                print(f"{topology.unrouted} does not exist: run `python -m processor migrate`")
                return 1
            print("\n".join(lines))
            return 0
        # The move is recorded, so the record must be reachable before anything moves;
        # unreachable, `python -m processor` says so in its one line, as for every command.
        conn = await asyncpg.connect(settings.database_url)
        # The queues of every registered consumer exist before anything is moved to them.
        async with connection.channel() as channel:
            await declare(channel, topology, consumers, settings.retry_delays)
        with bar(f"moving {topology.unrouted}") as progress:
            report = await move_unrouted(connection, topology, consumers, args.limit, progress)
        try:
            if report.moved:
                detail = f"moved {report.moved}, left {report.left}"
                act = audit.Act(audit.cli_operator(args.by), "cli", "unrouted.move", detail)
                await audit.record(conn, act)
        finally:
            await conn.close()
    print(
        f"moved {report.moved} to their consumers; left {report.left} with no consumer "
        f"in {topology.unrouted}" + (f"; stopped: {report.stopped}" if report.stopped else "")
    )
    return 1 if report.stopped else 0
