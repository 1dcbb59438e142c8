"""Drop the dead letters and unrouted messages held for longer than their keep period.

A dead letter is as old as its last failure, an unrouted message as old as its arrival
(`held_messages.held_since`); one that says neither is kept. What is dropped is returned by
message id, for the run's summary: the record of what went.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from contracts.topology import Topology
from processor.handler import Consumer
from processor.ops.held_messages import DROP, KEEP, Decision, Reworked, held_since, rework
from processor.ops.progress import Progress


def held_queues(topology: Topology, consumers: Sequence[Consumer]) -> list[str]:
    """The queues where messages wait for a person: every dead-letter queue, and unrouted."""
    return [*(topology.dead_letter_queue(c.name) for c in consumers), topology.unrouted]


async def expire(
    channel: AbstractChannel,
    queues: Sequence[str],
    cutoff: datetime,
    *,
    dry_run: bool,
    progress: Progress,
) -> list[Reworked]:
    """Drop (or, dry, count) what each queue has held since before `cutoff`."""

    def decide(message: AbstractIncomingMessage) -> Decision:
        since = held_since(message)
        return DROP if since is not None and since < cutoff else KEEP

    return [await rework(channel, q, decide, dry_run=dry_run, progress=progress) for q in queues]
