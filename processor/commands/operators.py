"""`python -m processor operators add|list|disable`: who may sign in to the console.

`add NAME --password-stdin` reads the password from the first line of standard input, so it
never shows in a process list or a shell history. An existing name, a refused name or password,
or an unknown name to disable: exit 1 with one line.
"""

from __future__ import annotations

import argparse
import getpass
import sys

import asyncpg

from processor.console import accounts
from processor.ops import audit
from processor.settings import ProcessorSettings

NAME = "operators"
HELP = "add, list or disable the operators who may sign in to the console"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    add = actions.add_parser("add", help="add an operator; the password comes from stdin")
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--password-stdin", action="store_true", required=True, help="read the password from stdin"
    )
    add.add_argument("--by", default=None, help="who adds, for the audit (default: OS user)")
    actions.add_parser("list", help="every operator, and whether disabled")
    off = actions.add_parser("disable", help="stop an operator signing in; ends their sessions")
    off.add_argument("name", metavar="NAME")
    off.add_argument("--by", default=None, help="who disables, for the audit (default: OS user)")


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        if args.action == "list":
            for op in await accounts.listing(conn):
                state = f"disabled {op.disabled_at:%Y-%m-%d %H:%M}" if op.disabled_at else "active"
                print(f"{op.name}\t{state}\tadded {op.created_at:%Y-%m-%d %H:%M}")
            return 0
        by = audit.cli_operator(args.by)
        if args.action == "add":
            # At a terminal, asked without echo; piped, the first line.
            if sys.stdin.isatty():
                password = getpass.getpass(f"password for {args.name}: ")
            else:
                password = sys.stdin.readline().rstrip("\r\n")
            try:
                async with conn.transaction():
                    await accounts.add(conn, args.name, password)
                    await audit.record(conn, audit.Act(by, "cli", "operators.add", args.name))
            except accounts.AccountError as exc:
                print(f"operators add: {exc}", file=sys.stderr)
                return 1
            print(f"operator {args.name} added")
            return 0
        async with conn.transaction():
            if not await accounts.disable(conn, args.name):
                print(f"operators disable: no operator {args.name}", file=sys.stderr)
                return 1
            await audit.record(conn, audit.Act(by, "cli", "operators.disable", args.name))
        print(f"operator {args.name} disabled; their sessions ended")
        return 0
    finally:
        await conn.close()
