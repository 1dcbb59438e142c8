"""Benchmark 2: webhooks posted to the ingress until applied in Postgres, with the full rules.

    python -m bench.end_to_end [--rate 300] [--duration 20] [--mix mixed|office]

Runs migrate, the processor and the ingress as processes, posts the workload at a fixed offered
rate, waits until every webhook a consumer exists for is applied, and reports throughput, the
latency from receipt at the ingress to the history row written just before commit, the deepest
consumer queue seen while posting, and each process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import parse_qs

from bench.harness import (
    TOKEN,
    Stack,
    free_port,
    percentile,
    queue_depth,
    report,
    stack,
    wait_http,
)
from bench.load import run_load
from bench.workload import Webhook, mixed, office_sales
from processor.registry import CONSUMERS

APPLY_TIMEOUT = 300.0


def _expected(hooks: list[Webhook]) -> int:
    """Unique webhooks some consumer is bound to: what must end up in pos.inbox."""
    keys = {key: c.name for c in CONSUMERS for key in c.routing_keys}
    count = 0
    for hook in hooks:
        fields = parse_qs(hook.form)
        key = f"{fields['recipient'][0]}.{fields['event_type'][0]}"
        count += hook.unique and key in keys
    return count


async def _watch_queues(services: Stack, stop: asyncio.Event, deepest: dict[str, int]) -> None:
    while not stop.is_set():
        for consumer in CONSUMERS:
            depth = await queue_depth(services.namespace, consumer.name)
            deepest[consumer.name] = max(deepest.get(consumer.name, 0), depth)
        services.sample_rss()
        await asyncio.sleep(1.0)


async def _wait_applied(services: Stack, expected: int) -> tuple[float, list[float]]:
    import asyncpg  # noqa: PLC0415 - keeps the module's import light for --help

    conn = await asyncpg.connect(services.database_url)
    deadline = time.monotonic() + APPLY_TIMEOUT
    try:
        while (done := await conn.fetchval("SELECT count(*) FROM pos.inbox")) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {expected} applied in {APPLY_TIMEOUT}s")
            services.sample_rss()
            await asyncio.sleep(0.2)
        rows = await conn.fetch(
            "SELECT extract(epoch FROM applied_at - received_at) * 1000 AS ms, applied_at,"
            " received_at FROM pos.order_history WHERE received_at IS NOT NULL"
        )
    finally:
        await conn.close()
    latencies = [float(r["ms"]) for r in rows]
    span = max(r["applied_at"] for r in rows) - min(r["received_at"] for r in rows)
    return span.total_seconds(), latencies


async def main(rate: float, duration: float, mix: str) -> None:
    hooks = office_sales(int(rate * duration)) if mix == "office" else mixed(int(rate * duration))
    expected = _expected(hooks)
    async with stack() as services:
        services.start("processor", "-m", "processor")
        port = free_port()
        services.start(
            "ingress",
            "-m",
            "ingress",
            extra_env={"TEVO_INGRESS_PORT": str(port), "TEVO_INGRESS_HOST": "127.0.0.1"},
        )
        await wait_http(f"http://127.0.0.1:{port}/readyz")
        stop, deepest = asyncio.Event(), dict[str, int]()
        watcher = asyncio.create_task(_watch_queues(services, stop, deepest))
        url = f"http://127.0.0.1:{port}/webhooks/tevo/{TOKEN}"
        load = await asyncio.to_thread(
            run_load, url, [h.form for h in hooks], duration=duration, rate=rate
        )
        stop.set()
        await watcher
        span, latencies = await _wait_applied(services, expected)
    row = {
        "mix": mix,
        "offered_per_s": rate,
        "posted": sum(load.statuses.values()),
        "accepted_202": load.statuses.get(202, 0),
        "applied": len(latencies),
        "applied_per_s": len(latencies) / span if span else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "deepest_queue": max(deepest.values(), default=0),
    }
    report(
        f"end_to_end_{mix}",
        [row],
        {"expected": expected, "peak_rss_mb": services.peak_rss_mb, "deepest_queues": deepest},
    )
    print(f"peak RSS MB: {services.peak_rss_mb}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=300.0, help="offered webhooks/s")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of posting")
    parser.add_argument("--mix", choices=("mixed", "office"), default="mixed")
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.duration, args.mix))
