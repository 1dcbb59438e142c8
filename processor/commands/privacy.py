"""`python -m processor privacy export|erase (--email E | --customer ID)`: a person's data.

`export` prints, as JSON on stdout, everything the POS and the namespace's queues hold on the
person; `erase --yes` masks it everywhere for good (`processor.ops.privacy`). Both are recorded
in the operators' audit (`pos.audit`) with who asked (`--by`, default the OS user), when, and
which orders and messages;
the summary printed by `erase` and its log line name records by id and count, never by content.
Both can run again: an erased person is found by customer id, and nothing is left to mask.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import asyncpg
import structlog
from aio_pika.exceptions import ChannelNotFoundEntity

from processor.broker import connect_once
from processor.commands.retention import unmigrated
from processor.ops import privacy
from processor.ops.audit import cli_operator
from processor.ops.privacy_export import export
from processor.ops.privacy_queues import Found, mask_in_queues, namespace_queues
from processor.ops.progress import bar
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings

log = structlog.get_logger("processor.ops.privacy")

NAME = "privacy"
HELP = "export or erase everything held on one person (by e-mail or customer id)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    helps = {
        "export": "print, as JSON, everything held on the person",
        "erase": "mask the person's data everywhere, for good (with --yes)",
    }
    for action, text in helps.items():
        sub = actions.add_parser(action, help=text, description=text)
        who = sub.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", help="the person's e-mail (any case)")
        who.add_argument("--customer", type=int, help="the person's POS customer id")
        sub.add_argument("--by", default=None, help="who asks, for the record (default: you)")
        if action == "erase":
            sub.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    if args.action == "erase" and not args.yes:
        print("privacy erase masks the person's data for good: add --yes", file=sys.stderr)
        return 2
    actor = cli_operator(args.by)
    conn = await asyncpg.connect(settings.database_url)
    try:
        if await unmigrated(conn, f"privacy {args.action}"):
            return 1
        try:
            subject = await privacy.find_subject(conn, args.email, args.customer)
        except privacy.NoSubject as exc:
            print(f"privacy {args.action}: {exc}", file=sys.stderr)
            return 1

        found = Found()
        try:
            queues = await _queues(settings, subject.needles, found, erase=args.action == "erase")
        except ChannelNotFoundEntity as exc:
            print(f"{exc.args[-1]}: has `python -m processor migrate` run?", file=sys.stderr)
            return 1
        if args.action == "export":
            return await _export(conn, subject, actor, found)
        return await _erase(conn, subject, actor, queues)
    finally:
        await conn.close()


async def _export(
    conn: asyncpg.Connection, subject: privacy.Subject, actor: str, found: Found
) -> int:
    records = await privacy.find_records(conn, subject)
    document = await export(conn, records)
    document["messages"] = found.messages
    shown = [m["message_id"] for m in found.messages if m["message_id"]]
    act = await privacy.record(conn, "privacy.export", actor, subject, records, message_ids=shown)
    print(json.dumps(document, indent=2, default=str))
    log.info("privacy.exported", act=act, by=actor, customers=subject.customer_ids)
    return 0


async def _erase(
    conn: asyncpg.Connection, subject: privacy.Subject, actor: str, queues: dict[str, Any]
) -> int:
    masked = [m for ids in queues.values() for m in ids if m]
    act, records = await privacy.erase(conn, subject, actor, masked)
    print(json.dumps({**records.as_json(), "messages_masked": queues, "act": act}, indent=2))
    log.info("privacy.erased", act=act, by=actor, customers=subject.customer_ids)
    return 0


async def _queues(
    settings: ProcessorSettings, needles: tuple[str, ...], found: Found, *, erase: bool
) -> dict[str, Any]:
    """Look through (export) or mask (erase) the namespace's queues; message ids by queue."""
    names = namespace_queues(settings.topology, CONSUMERS, settings.retry_delays)
    connection = await connect_once(settings, NAME)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        with bar("privacy: queues") as progress:
            done = await mask_in_queues(
                channel, names, needles, dry_run=not erase, found=found, progress=progress
            )
    return {r.queue: r.replaced for r in done if r.replaced}
