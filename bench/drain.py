"""Benchmark 3: how fast the processor drains a backlog of order_created messages.

    python -m bench.drain [--messages 50000]

Publishes the backlog straight to the webhooks exchange (confirmed, 64 in flight, as the ingress
would), then starts the processor and times it until every message is applied.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

import aio_pika
import asyncpg

from bench.harness import AMQP_URL, Stack, report, stack
from bench.workload import office_sales
from contracts import Recipient, WebhookEnvelope

IN_FLIGHT = 64


async def _fill(services: Stack, count: int) -> float:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{services.namespace}.webhooks")
        limit = asyncio.Semaphore(IN_FLIGHT)
        now = datetime.now(UTC)

        async def publish(form: str) -> None:
            fields = parse_qs(form)
            envelope = WebhookEnvelope(
                recipient=Recipient.SELLER,
                event_type="order_created",
                body=fields["body"][0].encode(),
                order_group_id=int(fields["order_group_id"][0]),
            )
            message = aio_pika.Message(
                envelope.body,
                message_id=envelope.message_id,
                headers=envelope.headers(now),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            async with limit:
                await exchange.publish(message, envelope.routing_key)

        started = time.perf_counter()
        await asyncio.gather(*(publish(h.form) for h in office_sales(count)))
        return count / (time.perf_counter() - started)


async def main(count: int) -> None:
    async with stack() as services:
        publish_rate = await _fill(services, count)
        conn = await asyncpg.connect(services.database_url)
        try:
            started = time.perf_counter()
            services.start("processor", "-m", "processor")
            while (done := await conn.fetchval("SELECT count(*) FROM pos.inbox")) < count:
                services.sample_rss()
                if time.perf_counter() - started > 900:
                    raise RuntimeError(f"only {done} of {count} applied in 900 s")
                await asyncio.sleep(0.25)
            seconds = time.perf_counter() - started
            invoices = await conn.fetchval("SELECT count(*) FROM pos.invoices")
        finally:
            await conn.close()
    row = {
        "backlog": count,
        "publish_per_s": publish_rate,
        "drain_seconds": seconds,
        "drained_per_s": count / seconds,
        "invoices": invoices,
        "processor_peak_rss_mb": services.peak_rss_mb.get("processor"),
    }
    report("drain", [row], {"peak_rss_mb": services.peak_rss_mb})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(main(args.messages))
