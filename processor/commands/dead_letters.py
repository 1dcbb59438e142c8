"""`python -m processor dead-letters list|show|replay|purge`: an operator's view of dead letters.

Prints to stdout for the person at the terminal; `show` prints the body, which holds buyer
details, so it is never logged. `--json` prints one JSON document instead of text. `list` and
`replay` show their progress on stderr when it is a terminal. `list`, `replay` and `purge` take
the same filters (reason, time, order); `replay` and `purge` say with `--dry-run` how many they
would touch, and record who acted (`--by`) in the audit. `purge` deletes for good, so it wants
one `--consumer`, or `--all --yes`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import ChannelNotFoundEntity

from processor.broker import connect_once
from processor.commands import dead_letter_options as options
from processor.commands.dead_letter_show import print_json, show
from processor.ops import audit
from processor.ops import dead_letters as deadletters
from processor.ops.dead_letters import DeadLetter
from processor.ops.progress import bar
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings

NAME = "dead-letters"
HELP = "list, show, replay or purge the dead letters of the consumers"
LIST_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    helps = {
        "list": "the oldest dead letters of each consumer, one line each",
        "show": "one dead letter in full: its headers and body",
        "replay": "send dead letters back to their consumer's queue, with a fresh retry budget",
        "purge": "delete dead letters for good",
    }
    for action, text in helps.items():
        sub = actions.add_parser(action, help=text, description=text)
        if action == "show":
            sub.add_argument("message_id", help="the message_id to show")
        else:
            options.add_filter(sub, message_id=action != "list")
        if action in ("replay", "purge"):
            options.add_act(sub, action)
        options.add_consumer(sub, purge=action == "purge")
        sub.add_argument(
            "--limit",
            type=int,
            default=LIST_LIMIT if action == "list" else None,
            help=f"at most this many (per consumer; list: {LIST_LIMIT}, others: all)",
        )
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    if args.action == "purge" and args.all and not args.yes and not args.dry_run:
        print(
            "dead-letters purge --all deletes every consumer's dead letters for good: "
            "add --yes to confirm, or name one with --consumer",
            file=sys.stderr,
        )
        return 2
    consumers = [args.consumer] if args.consumer else [c.name for c in CONSUMERS]
    if args.action in ("replay", "purge") and not args.dry_run:
        # The act is recorded, so the record must be reachable before anything is touched.
        # Unreachable: `python -m processor` says so in its one line, as for every command
        # (processor.commands.unreachable).
        args.audit = await asyncpg.connect(settings.database_url)
    try:
        return await _on_broker(args, settings, consumers)
    finally:
        if getattr(args, "audit", None) is not None:
            await args.audit.close()


async def _on_broker(
    args: argparse.Namespace, settings: ProcessorSettings, consumers: list[str]
) -> int:
    # Unreachable: `python -m processor` says so in its one line (processor.commands.unreachable).
    connection = await connect_once(settings, "dead-letters")
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            return await ACTIONS[args.action](channel, settings, consumers, args)
        except ChannelNotFoundEntity as exc:
            print(f"{exc.args[-1]}: has `python -m processor migrate` run?", file=sys.stderr)
            return 1


async def _list(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> int:
    found = await _matching(channel, settings, consumers, args)
    if args.json:
        print_json(
            {
                c: {"count": len(d), "dead_letters": [x.summary() for x in d[: args.limit]]}
                for c, d in found.items()
            }
        )
        return 0
    total = sum(len(letters) for letters in found.values())
    print(f"{total} dead letter(s) in {len(found)} consumer queue(s)")
    for consumer, letters in found.items():
        if not letters and len(found) > 1:
            continue  # an operator looks for what failed; empty queues are only noise
        queue = settings.topology.dead_letter_queue(consumer)
        print(f"{queue}: {len(letters)} dead letter(s)")
        for letter in letters[: args.limit]:
            print(_line(letter))
        if len(letters) > args.limit:
            print(f"  ... and {len(letters) - args.limit} more (--limit)")
    return 0


def _line(letter: DeadLetter) -> str:
    s = letter.summary()
    error = f"{s['error_type'] or '-'}: {s['error_message'] or '-'}"
    return (
        f"  {s['message_id']}  {s['reason']}  attempts={s['attempts']}"
        f"  last_failed_at={s['last_failed_at'] or '-'}  key={s['original_routing_key'] or '-'}"
        f"\n      {error}"
    )


async def _matching(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> dict[str, list[DeadLetter]]:
    matching, found = options.chosen(args), {}
    for consumer in consumers:
        with bar(settings.topology.dead_letter_queue(consumer)) as progress:
            letters = await deadletters.peek(channel, settings.topology, consumer, progress)
        found[consumer] = [x for x in letters if x.matches(matching)]
    return found


async def _dry_run(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> int:
    found = await _matching(channel, settings, consumers, args)
    counts = {
        c: len(x) if args.limit is None else min(len(x), args.limit) for c, x in found.items()
    }
    if args.json:
        print_json({c: {"would_" + args.action: n} for c, n in counts.items()})
        return 0
    what = options.described(options.chosen(args))
    print(f"dry run: would {args.action} {sum(counts.values())} dead letter(s) ({what})")
    for consumer, count in counts.items():
        if count:
            print(f"  {settings.topology.dead_letter_queue(consumer)}: {count}")
    return 0


async def _replay(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> int:
    if args.dry_run:
        return await _dry_run(channel, settings, consumers, args)
    done: dict[str, deadletters.Replayed] = {}
    for consumer in consumers:
        with bar(f"replaying {settings.topology.dead_letter_queue(consumer)}") as progress:
            done[consumer] = await deadletters.replay(
                channel,
                settings.topology,
                consumer,
                limit=args.limit,
                matching=options.chosen(args),
                progress=progress,
            )
    await _record(args, "dead_letters.replay", done)
    if args.json:
        print_json({c: {"replayed": ids, "left": ids.left} for c, ids in done.items()})
    else:
        for consumer, ids in done.items():
            print(
                f"{consumer}: replayed {len(ids)} to {settings.topology.consumer_queue(consumer)}"
            )
            for message_id in ids:
                print(f"  {message_id}")
    left = {consumer: ids.left for consumer, ids in done.items() if ids.left}
    for consumer, count in left.items():
        print(
            f"{consumer}: left {count} dead letter(s) it was asked to replay (another reader "
            f"held them); they are still in {settings.topology.dead_letter_queue(consumer)}: "
            "run the replay again",
            file=sys.stderr,
        )
    if args.message_id is not None and not any(done.values()) and not left:
        print(f"no dead letter with message_id {args.message_id}", file=sys.stderr)
        return 1
    return 1 if left else 0


async def _purge(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> int:
    if args.dry_run:
        return await _dry_run(channel, settings, consumers, args)
    matching = options.chosen(args)
    purged = {
        c: await deadletters.purge(
            channel, settings.topology, c, limit=args.limit, matching=matching
        )
        for c in consumers
    }
    await _record(args, "dead_letters.purge", purged)
    if args.json:
        print_json({c: {"purged": len(ids)} for c, ids in purged.items()})
    else:
        for consumer, ids in purged.items():
            print(f"{settings.topology.dead_letter_queue(consumer)}: purged {len(ids)}")
    return 0


async def _record(
    args: argparse.Namespace, action: str, done: Mapping[str, list[str | None]]
) -> None:
    touched = {c: ids for c, ids in done.items() if ids}
    if not touched:
        return
    matching = options.chosen(args)
    counts = ", ".join(f"{c}: {len(ids)}" for c, ids in touched.items())
    act = audit.Act(
        operator=audit.cli_operator(args.by),
        via="cli",
        action=action,
        detail=f"{counts} (filter: {options.described(matching)})",
        order_ids=() if matching.order is None else (matching.order,),
        message_ids=[m for ids in touched.values() for m in ids if m],
    )
    await audit.record(args.audit, act)


Action = Callable[
    [AbstractChannel, ProcessorSettings, list[str], argparse.Namespace], Awaitable[int]
]
ACTIONS: dict[str, Action] = {"list": _list, "show": show, "replay": _replay, "purge": _purge}
