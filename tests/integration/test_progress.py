"""The long operator jobs tell their progress what they do: the total first, then each step."""

from __future__ import annotations

from dataclasses import dataclass, field

import aio_pika
import pytest

from processor.ops import dead_letters as deadletters
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings

pytestmark = pytest.mark.integration

CONSUMER = CONSUMERS[0].name
LETTERS = 4


@dataclass
class Recorded:
    """A `Progress` that keeps what it was told."""

    totals: list[float | None] = field(default_factory=list)
    done: float = 0

    def reset(self, total: float | None = None) -> None:
        self.totals.append(total)
        self.done = 0

    def update(self, n: float | None = 1) -> bool | None:
        self.done += n or 0
        return None


async def test_peek_and_replay_count_every_dead_letter_out_of_the_queue_depth(
    processor_settings: ProcessorSettings,
) -> None:
    topology = processor_settings.topology
    connection = await aio_pika.connect(processor_settings.amqp_url)
    async with connection:
        # As the dead-letters command opens it: replay needs confirms and returns.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare(channel, topology, CONSUMERS, processor_settings.retry_delays)
        dead = topology.dead_letter_queue(CONSUMER)
        for n in range(LETTERS):
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=f"m{n}"), dead
            )

        peeked = Recorded()
        letters = await deadletters.peek(channel, topology, CONSUMER, peeked)
        assert len(letters) == LETTERS
        assert (peeked.totals, peeked.done) == ([LETTERS], LETTERS)

        replayed = Recorded()
        ids = await deadletters.replay(channel, topology, CONSUMER, limit=3, progress=replayed)
        assert ids == ["m0", "m1", "m2"]
        assert (replayed.totals, replayed.done) == ([3], 3)
