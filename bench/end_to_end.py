"""Benchmark 2: webhooks posted to the ingress until applied in Postgres, with the full rules.

    python -m bench.end_to_end [--rate 300] [--duration 20] [--mix mixed|office] [--verify MS]
        [--tracing]

Runs migrate, the processor and the ingress as processes, posts the workload at a fixed offered
rate, waits until every webhook answered 202 that a consumer exists for is applied (a refused
one need not be: TEvo would retry it), and reports the answers (202, 503, other), throughput,
the latency from receipt at the ingress to the history row written just before commit, the
deepest consumer queue seen while posting, and each process's peak RSS. Beside them: the CPU
µs per applied webhook of the ingress, the processor, RabbitMQ (the node on the AMQP port) and
Postgres (the bench database's backends and the cluster's background processes), from /proc
between the first POST and the last commit; and, as the baseline, the bare aiohttp handler's
CPU µs per webhook at the same offered rate, measured right after.

`--verify MS` turns verification on against a fake TEvo API in the bench's process (the test
suite's, knowing every order of the workload) that answers each call after MS milliseconds.
`--tracing` turns OpenTelemetry on in both services (OTLP/HTTP to a sink in this process that
counts the spans and answers at once): run once with it and once without to see what tracing
costs per webhook; without it no OTEL_* variable is set, tracing is off, as in production by
default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aio_pika

from bench.cpu import CpuMeter, per_item_us, tree_of
from bench.harness import (
    AMQP_URL,
    TOKEN,
    Stack,
    free_port,
    percentile,
    queue_depth,
    report,
    stack,
    wait_http,
)
from bench.load import LoadResult, run_load
from bench.span_sink import span_sink
from bench.workload import Webhook, mixed, office_sales
from contracts.envelope import message_id
from processor.registry import CONSUMERS

APPLY_TIMEOUT = 300.0
BASELINE_SECONDS = 10.0  # the bare server's CPU per webhook is steady well before this


@dataclass
class Run:
    """One measured run: the load's answers, what had to be applied, and what it cost."""

    load: LoadResult
    expected: set[str]
    span: float
    latencies: list[float]
    deepest: dict[str, int]
    cpu: dict[str, float]  # CPU seconds per role, from the first POST to the last commit


def _expected(hooks: list[Webhook], answers: list[int]) -> set[str]:
    """The message ids that must end up in pos.inbox: each webhook answered 202 at least once
    (a duplicate of a refused one counts) whose routing key some consumer is bound to."""
    keys = {key for c in CONSUMERS for key in c.routing_keys}
    expected = set()
    for hook, status in zip(hooks, answers, strict=True):
        if status != 202:
            continue
        fields = {name: values[0] for name, values in parse_qs(hook.form).items()}
        if f"{fields['recipient']}.{fields['event_type']}" in keys:
            group = int(fields["order_group_id"])
            body = fields["body"].encode()
            expected.add(message_id(fields["recipient"], fields["event_type"], group, body))
    return expected


async def _watch_queues(
    services: Stack, stop: asyncio.Event, deepest: dict[str, int], meter: CpuMeter
) -> None:
    # One connection for the whole run: a connection a poll would cost RabbitMQ more than the
    # bench measures of it per webhook.
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        while not stop.is_set():
            for consumer in CONSUMERS:
                depth = await queue_depth(channel, services.namespace, consumer.name)
                deepest[consumer.name] = max(deepest.get(consumer.name, 0), depth)
            services.sample_rss()
            meter.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def _wait_applied(
    services: Stack, expected: set[str], meter: CpuMeter
) -> tuple[float, list[float]]:
    """Wait until every expected message id is in pos.inbox; the span and each latency."""
    import asyncpg  # noqa: PLC0415 - keeps the module's import light for --help

    conn = await asyncpg.connect(services.database_url)
    deadline = time.monotonic() + APPLY_TIMEOUT
    ids = sorted(expected)
    count = "SELECT count(DISTINCT message_id) FROM pos.inbox WHERE message_id = ANY($1)"
    try:
        while (done := await conn.fetchval(count, ids)) < len(ids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {len(ids)} applied in {APPLY_TIMEOUT}s")
            services.sample_rss()
            meter.sample()
            await asyncio.sleep(0.2)
        rows = await conn.fetch(
            "SELECT extract(epoch FROM applied_at - received_at) * 1000 AS ms, applied_at,"
            " received_at FROM pos.order_history WHERE received_at IS NOT NULL"
        )
    finally:
        await conn.close()
    latencies = [float(r["ms"]) for r in rows]
    if not rows:
        return 0.0, latencies
    span = max(r["applied_at"] for r in rows) - min(r["received_at"] for r in rows)
    return span.total_seconds(), latencies


async def _run(services: Stack, hooks: list[Webhook], rate: float, duration: float) -> Run:
    """Post `hooks` to the ingress and wait for the accepted ones to be applied, CPU metered."""
    services.start("processor", "-m", "processor")
    port = free_port()
    services.start(
        "ingress",
        "-m",
        "ingress",
        extra_env={"TEVO_INGRESS_PORT": str(port), "TEVO_INGRESS_HOST": "127.0.0.1"},
    )
    await wait_http(f"http://127.0.0.1:{port}/readyz")
    meter = CpuMeter(services.roles("ingress", "processor"))
    meter.start()
    stop, deepest = asyncio.Event(), dict[str, int]()
    watcher = asyncio.create_task(_watch_queues(services, stop, deepest, meter))
    url = f"http://127.0.0.1:{port}/webhooks/tevo/{TOKEN}"
    load = await asyncio.to_thread(
        run_load, url, [h.form for h in hooks], duration=duration, rate=rate
    )
    stop.set()
    await watcher
    expected = _expected(hooks, load.answers)
    span, latencies = await _wait_applied(services, expected, meter)
    return Run(load, expected, span, latencies, deepest, meter.seconds())


async def _bare(services: Stack, hooks: list[Webhook], rate: float, duration: float) -> float:
    """CPU µs per webhook of the bare aiohttp handler at the same offered rate."""
    port = free_port()
    bare = services.start("bare", "-m", "bench.bare_server", str(port))
    await wait_http(f"http://127.0.0.1:{port}/healthz")
    meter = CpuMeter({"bare": tree_of(bare.pid)})
    meter.start()
    url = f"http://127.0.0.1:{port}/webhooks/tevo/x"
    load = await asyncio.to_thread(
        run_load, url, [h.form for h in hooks], duration=duration, rate=rate
    )
    used = meter.seconds()["bare"]
    services.stop("bare")
    return used * 1e6 / max(1, load.statuses.get(200, 0))


@contextlib.asynccontextmanager
async def _tevo_api(hooks: list[Webhook], ms: float | None) -> AsyncIterator[dict[str, str]]:
    """The processor's settings for a fake TEvo API answering after `ms` (None: off)."""
    if ms is None:
        yield {}
        return
    from tests.fake_tevo import FakeTevo  # noqa: PLC0415 - only with --verify

    fake = FakeTevo(slow=ms / 1000)
    for hook in hooks:
        fake.add(json.loads(parse_qs(hook.form)["body"][0]))
    async with fake.running() as url:
        yield {"api_url": url, "api_token": fake.token, "api_secret": fake.secret}


async def main(
    rate: float, duration: float, mix: str, verify_ms: float | None, tracing: bool
) -> None:
    hooks = office_sales(int(rate * duration)) if mix == "office" else mixed(int(rate * duration))
    async with (
        _tevo_api(hooks, verify_ms) as api,
        stack(**api) as services,
        span_sink(enabled=tracing) as sink,
    ):
        if sink is not None:
            services.env.update(
                OTEL_EXPORTER_OTLP_ENDPOINT=sink.url, OTEL_TRACES_SAMPLER="always_on"
            )
        run = await _run(services, hooks, rate, duration)
        services.stop("ingress")
        services.stop("processor")
        bare_us = await _bare(services, hooks, rate, min(duration, BASELINE_SECONDS))
    row = {
        "tracing": "on" if sink is not None else "off",
        **_row(mix, rate, run),
        "tevo_latency_ms": verify_ms,
    }
    ingress_us = row["ingress_cpu_us_per_202"]
    row["bare_aiohttp_cpu_us"] = bare_us
    row["cpu_ratio_bare_to_ingress"] = bare_us / ingress_us if ingress_us else None
    report(
        f"end_to_end_{mix}" + ("" if verify_ms is None else "_verify"),
        [row],
        {
            "expected": len(run.expected),
            "statuses": dict(run.load.statuses),
            "peak_rss_mb": services.peak_rss_mb,
            "deepest_queues": run.deepest,
            "exports_received": sink.requests if sink is not None else 0,
        },
    )
    print(f"peak RSS MB: {services.peak_rss_mb}")
    print(f"answers: {dict(sorted(run.load.statuses.items()))} (0: no answer)")


def _row(mix: str, rate: float, run: Run) -> dict[str, Any]:
    statuses = run.load.statuses
    accepted = statuses.get(202, 0)
    applied = len(run.latencies)
    per_applied = per_item_us(run.cpu, applied)
    return {
        "mix": mix,
        "offered_per_s": rate,
        "posted": sum(statuses.values()),
        "accepted_202": accepted,
        "refused_503": statuses.get(503, 0),
        "failed_other": sum(statuses.values()) - accepted - statuses.get(503, 0),
        "applied": applied,
        "applied_per_s": applied / run.span if run.span else 0.0,
        "p50_ms": percentile(run.latencies, 50),
        "p99_ms": percentile(run.latencies, 99),
        "deepest_queue": max(run.deepest.values(), default=0),
        # CPU per applied webhook, each process; the ingress's also per webhook it accepted
        **{key.replace("_cpu_us", "_cpu_us_per_applied"): v for key, v in per_applied.items()},
        "ingress_cpu_us_per_202": run.cpu["ingress"] * 1e6 / accepted if accepted else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=300.0, help="offered webhooks/s")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of posting")
    parser.add_argument("--mix", choices=("mixed", "office"), default="mixed")
    parser.add_argument(
        "--verify",
        type=float,
        metavar="MS",
        help="verification on, against a fake TEvo API answering after MS milliseconds",
    )
    parser.add_argument(
        "--tracing", action="store_true", help="OpenTelemetry on in both services (OTLP/HTTP)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.duration, args.mix, args.verify, args.tracing))
