"""The drain's baseline: an aio-pika consumer that acks in batches and does nothing else.

    python -m bench.bare_consumer QUEUE COUNT [--prefetch 128] [--batch 32]

It takes deliveries as the processor does (same prefetch, same batch size, one multiple-ack per
batch once it is full or 5 ms old), without decoding a body or touching Postgres, and exits
once COUNT messages are acked. It prints one JSON line: the seconds from the first delivery to
the last ack, the messages acked, and the CPU seconds the process used. What the processor adds
to this is its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

LINGER = 0.005  # the processor's default TEVO_BATCH_LINGER


class BatchAcker:
    """Counts deliveries and acks each batch with one `multiple` ack of its newest message."""

    def __init__(self, count: int, batch: int) -> None:
        self.count, self.batch = count, batch
        self.acked = 0
        self.first = 0.0
        self.done = asyncio.Event()
        self._newest: AbstractIncomingMessage | None = None
        self._pending = 0
        self._timer: asyncio.Task[None] | None = None

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        if not self.first:
            self.first = time.perf_counter()
        self._newest = message
        self._pending += 1
        if self._pending >= self.batch:
            if self._timer is not None:
                self._timer.cancel()  # this batch is full: no need to wait for its linger
            await self._ack()
        elif self._pending == 1:
            self._timer = asyncio.create_task(self._ack_later())

    async def _ack_later(self) -> None:
        await asyncio.sleep(LINGER)
        await self._ack()

    async def _ack(self) -> None:
        newest, size = self._newest, self._pending
        if newest is None:
            return
        self._newest, self._pending = None, 0
        await newest.ack(multiple=True)
        self.acked += size
        if self.acked >= self.count:
            self.done.set()


async def drain(
    url: str, queue_name: str, count: int, prefetch: int, batch: int
) -> dict[str, float]:
    """Consume `count` messages off `queue_name`; the seconds from first delivery to last ack."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name, ensure=False)
        acker = BatchAcker(count, batch)
        await queue.consume(acker.on_message)
        await acker.done.wait()
        seconds = time.perf_counter() - acker.first
    # All of this process's CPU, its start included, as the processor's is counted.
    return {"seconds": seconds, "acked": acker.acked, "cpu_seconds": time.process_time()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("queue")
    parser.add_argument("count", type=int)
    parser.add_argument("--prefetch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    url = os.environ.get("TEVO_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    result = asyncio.run(drain(url, args.queue, args.count, args.prefetch, args.batch))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
