"""Benchmark 3: how fast the processor drains a backlog of order_created messages.

    python -m bench.drain [--messages 50000]

Publishes the backlog straight to the webhooks exchange (confirmed, 64 in flight, as the ingress
would) and drains it first with the baseline, `bench.bare_consumer` (batched multiple-acks, no
Postgres); then publishes the same backlog again, starts the processor and times it until every
message is applied. Both report the CPU µs per message of each process (the consumer, the
RabbitMQ node, and for the processor the Postgres processes of its database), read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

import aio_pika
import asyncpg

from bench.cpu import CpuMeter, per_item_us
from bench.harness import AMQP_URL, Stack, report, stack
from bench.workload import office_sales
from contracts import Recipient, WebhookEnvelope

IN_FLIGHT = 64
QUEUE = "seller.order_created"  # the consumer of every message in the backlog


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


async def _baseline(services: Stack, count: int) -> dict[str, object]:
    """Drain the backlog with `bench.bare_consumer`: what consuming and acking alone cost."""
    meter = CpuMeter({"rabbitmq": services.roles()["rabbitmq"]})
    meter.start()
    consumer = services.start(
        "bare consumer",
        "-m",
        "bench.bare_consumer",
        f"{services.namespace}.{QUEUE}",
        str(count),
        stdout=subprocess.PIPE,
    )
    output, _ = await asyncio.to_thread(consumer.communicate, timeout=900)
    used = meter.seconds()
    services.processes.pop("bare consumer")
    if consumer.returncode != 0:
        raise RuntimeError("the baseline consumer failed")
    result = json.loads(output)
    # The consumer reports its own CPU: once it has exited, /proc has nothing left to read.
    per_message = per_item_us({**used, "consumer": result["cpu_seconds"]}, int(result["acked"]))
    return {
        "baseline_per_s": result["acked"] / result["seconds"],
        "baseline_consumer_cpu_us": per_message["consumer_cpu_us"],
        "baseline_rabbitmq_cpu_us": per_message["rabbitmq_cpu_us"],
    }


async def _processor(services: Stack, count: int) -> dict[str, object]:
    """Start the processor on the backlog and time it until every message is applied."""
    meter = CpuMeter(services.roles("processor"))
    conn = await asyncpg.connect(services.database_url)
    try:
        meter.start()
        started = time.perf_counter()
        services.start("processor", "-m", "processor")
        while (done := await conn.fetchval("SELECT count(*) FROM pos.inbox")) < count:
            services.sample_rss()
            meter.sample()
            if time.perf_counter() - started > 900:
                raise RuntimeError(f"only {done} of {count} applied in 900 s")
            await asyncio.sleep(0.25)
        seconds = time.perf_counter() - started
        used = meter.seconds()
        invoices = await conn.fetchval("SELECT count(*) FROM pos.invoices")
    finally:
        await conn.close()
    return {
        "drain_seconds": seconds,
        "drained_per_s": count / seconds,
        "invoices": invoices,
        **per_item_us(used, count),
    }


async def main(count: int) -> None:
    async with stack() as services:
        publish_rate = await _fill(services, count)
        baseline = await _baseline(services, count)
        await _fill(services, count)  # the same messages again, for the processor
        drained = await _processor(services, count)
    row = {
        "backlog": count,
        "publish_per_s": publish_rate,
        **drained,
        "processor_peak_rss_mb": services.peak_rss_mb.get("processor"),
        **baseline,
    }
    ratio = float(str(row["drained_per_s"])) / float(str(row["baseline_per_s"]))
    row["ratio_to_baseline"] = ratio
    report("drain", [row], {"peak_rss_mb": services.peak_rss_mb})
    print(f"processor / bare consumer, messages per second: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(main(args.messages))
