"""`dead-letters show`: one dead letter in full, its headers and body, for the operator's eyes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aio_pika.abc import AbstractChannel

from processor.ops import dead_letters as deadletters
from processor.ops.dead_letters import DeadLetter
from processor.settings import ProcessorSettings


async def show(
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
        print_json([_full(x) for x in matches])
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


def print_json(document: object) -> None:
    print(json.dumps(document, indent=2, default=str))
