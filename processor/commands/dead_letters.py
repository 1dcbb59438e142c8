"""`python -m processor dead-letters list|show|replay|purge`: an operator's view of dead letters.

Prints to stdout for the person at the terminal; `show` prints the body, which holds buyer
details, so it is never logged. `--json` prints one JSON document instead of text. `list` and
`replay` show their progress on stderr when it is a terminal. `purge` deletes for good, so it
wants one `--consumer`, or `--all --yes`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelNotFoundEntity

from processor.broker import connect_once
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
        if action == "replay":
            sub.add_argument("--message-id", help="replay only the dead letters with this id")
        _consumer_arguments(sub, purge=action == "purge")
        sub.add_argument(
            "--limit",
            type=int,
            default=LIST_LIMIT if action == "list" else None,
            help=f"at most this many (per consumer; list: {LIST_LIMIT}, others: all)",
        )
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")


def _consumer_arguments(parser: argparse.ArgumentParser, *, purge: bool) -> None:
    names = [c.name for c in CONSUMERS]
    if not purge:
        parser.add_argument(
            "--consumer", choices=names, help="one consumer only (default: every consumer)"
        )
        return
    # Gone for good: say which queue, or say all of them and confirm it.
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--consumer", choices=names, help="purge this consumer's dead letters")
    which.add_argument("--all", action="store_true", help="purge every consumer's (with --yes)")
    parser.add_argument("--yes", action="store_true", help="confirm --all")


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    if args.action == "purge" and args.all and not args.yes:
        print(
            "dead-letters purge --all deletes every consumer's dead letters for good: "
            "add --yes to confirm, or name one with --consumer",
            file=sys.stderr,
        )
        return 2
    consumers = [args.consumer] if args.consumer else [c.name for c in CONSUMERS]
    try:
        connection = await connect_once(settings, "dead-letters")
    except CONNECTION_EXCEPTIONS as exc:
        print(f"cannot reach RabbitMQ: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
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
    found: dict[str, list[DeadLetter]] = {}
    for consumer in consumers:
        with bar(settings.topology.dead_letter_queue(consumer)) as progress:
            found[consumer] = await deadletters.peek(channel, settings.topology, consumer, progress)
    if args.json:
        _print_json(
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


async def _show(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> int:
    matches: list[DeadLetter] = []
    for consumer in consumers:
        letters = await deadletters.peek(channel, settings.topology, consumer)
        matches += [x for x in letters if x.message_id == args.message_id]
    matches = matches[: args.limit]  # copies of one message (TEvo's retries) share its id
    if not matches:
        print(f"no dead letter with message_id {args.message_id}", file=sys.stderr)
        return 1
    if args.json:
        _print_json([_full(x) for x in matches])
        return 0
    for letter in matches:
        for key, value in letter.summary().items():
            print(f"{key}: {value}")
        print("headers:")
        for key, value in sorted(letter.headers.items()):
            print(f"  {key}: {value}")
        print("body:")
        print(_body_text(letter.body))
    return 0


def _full(letter: DeadLetter) -> dict[str, Any]:
    return {
        **letter.summary(),
        "headers": {k: _jsonable(v) for k, v in letter.headers.items()},
        "body": _body_text(letter.body),
    }


def _body_text(body: bytes) -> str:
    text = body.decode(errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=str))


async def _replay(
    channel: AbstractChannel,
    settings: ProcessorSettings,
    consumers: list[str],
    args: argparse.Namespace,
) -> int:
    done: dict[str, deadletters.Replayed] = {}
    for consumer in consumers:
        with bar(f"replaying {settings.topology.dead_letter_queue(consumer)}") as progress:
            done[consumer] = await deadletters.replay(
                channel,
                settings.topology,
                consumer,
                limit=args.limit,
                message_id=args.message_id,
                progress=progress,
            )
    if args.json:
        _print_json({c: {"replayed": ids, "left": ids.left} for c, ids in done.items()})
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
    purged = {
        c: await deadletters.purge(channel, settings.topology, c, limit=args.limit)
        for c in consumers
    }
    if args.json:
        _print_json({c: {"purged": n} for c, n in purged.items()})
    else:
        for consumer, count in purged.items():
            print(f"{settings.topology.dead_letter_queue(consumer)}: purged {count}")
    return 0


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2, default=str))


Action = Callable[
    [AbstractChannel, ProcessorSettings, list[str], argparse.Namespace], Awaitable[int]
]
ACTIONS: dict[str, Action] = {"list": _list, "show": _show, "replay": _replay, "purge": _purge}
