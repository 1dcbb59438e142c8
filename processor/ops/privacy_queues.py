"""Find and mask one person's data in the messages the namespace's queues hold.

Every queue of the namespace is looked at: dead letters and unrouted messages wait there for a
person, a delay queue holds retries for minutes, a consumer's queue what the processor has not
taken yet (what it holds unacked is not seen: run erasure again once the queues drained). A
message that mentions the person, in its body or a header, is replaced by a masked copy with the
same message id (`held_messages.rework`): nothing is dropped, and a copy of a message already
applied is a duplicate the inbox absorbs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from contracts.topology import Topology
from processor.handler import Consumer
from processor.ops.held_messages import KEEP, Decision, Replace, Reworked, rework
from processor.ops.pii import ERASED, contains, mask_bytes
from processor.ops.progress import Progress
from processor.runtime.topology import all_queues


def namespace_queues(
    topology: Topology, consumers: Sequence[Consumer], retry_delays: tuple[int, ...]
) -> list[str]:
    return [spec.name for spec in all_queues(topology, consumers, retry_delays)]


def mentions(message: AbstractIncomingMessage, needles: tuple[str, ...]) -> bool:
    if contains(message.body.decode(errors="replace"), needles):
        return True
    return any(contains(_text(v), needles) for v in (message.headers or {}).values())


def masked_headers(headers: dict[str, Any], needles: tuple[str, ...]) -> dict[str, Any]:
    return {k: ERASED if contains(_text(v), needles) else v for k, v in headers.items()}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else ""


@dataclass
class Found:
    """The messages that mention the person, as `privacy export` prints them."""

    messages: list[dict[str, Any]] = field(default_factory=list)


async def mask_in_queues(
    channel: AbstractChannel,
    queues: Sequence[str],
    needles: tuple[str, ...],
    *,
    dry_run: bool = False,
    found: Found | None = None,
    progress: Progress,
) -> list[Reworked]:
    """Replace every message that mentions a needle with a masked copy (dry: only look, and
    collect them into `found`)."""

    def decide(queue: str, message: AbstractIncomingMessage) -> Decision:
        if not needles or not mentions(message, needles):
            return KEEP
        if found is not None:
            found.messages.append(_shown(queue, message))
        headers = masked_headers(dict(message.headers or {}), needles)
        return Replace(mask_bytes(message.body, needles), headers)

    done = []
    for queue in queues:
        done.append(
            await rework(channel, queue, partial(decide, queue), dry_run=dry_run, progress=progress)
        )
    return done


def _shown(queue: str, message: AbstractIncomingMessage) -> dict[str, Any]:
    headers = {k: _text(v) or str(v) for k, v in (message.headers or {}).items()}
    return {
        "queue": queue,
        "message_id": message.message_id,
        "headers": headers,
        "body": message.body.decode(errors="replace"),
    }
