"""Benchmark 1: webhooks/s the ingress accepts (every 202 confirmed), beside a bare aiohttp handler.

    python -m bench.ingress_load [--duration 10] [--rates 500,1000] [--workers 1,2] [--tracing]

Both servers run as processes on loopback and get the same Office order_created forms: first
at saturation (closed loop, 64 connections), then at each fixed offered rate (open loop). The
ingress runs once per `--workers` value (TEVO_INGRESS_WORKERS). Each row has the CPU of the
server (all its processes), of the load generator and of RabbitMQ (the node on the AMQP port),
in cores and in µs per webhook answered 202 (200 for the bare server), read from /proc.
`--tracing` runs each ingress a second time with OpenTelemetry on (OTLP/HTTP to a sink in this
process): the rows "ingress xN traced" beside "ingress xN" are what tracing costs per webhook.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from bench.cpu import CpuMeter, listener_pid, per_item_us, tree_of
from bench.harness import (
    AMQP_PORT,
    TOKEN,
    Stack,
    free_port,
    percentile,
    report,
    stack,
    wait_http,
)
from bench.load import LoadResult, run_load
from bench.span_sink import span_sink
from bench.workload import office_sales


def _row(server: str, load: str, result: LoadResult, ok_status: int) -> dict[str, object]:
    ok = result.statuses.get(ok_status, 0)
    return {
        "server": server,
        "load": load,
        "requests": sum(result.statuses.values()),
        "ok": ok,
        "errors": sum(result.statuses.values()) - ok,
        "ok_per_s": ok / result.seconds if result.seconds else 0.0,
        "p50_ms": percentile(result.latencies_ms, 50),
        "p99_ms": percentile(result.latencies_ms, 99),
    }


def _measured(
    server: str, pid: int, load: str, ok_status: int, run: Callable[[], LoadResult]
) -> dict[str, object]:
    """One row: `run`'s figures, with the CPU of the server, client and broker, in cores and in
    µs per webhook answered `ok_status`."""
    meter = CpuMeter({"server": tree_of(pid), "rabbitmq": tree_of(listener_pid(AMQP_PORT))})
    meter.start()
    result = run()
    used = meter.seconds()
    seconds = result.seconds or 1.0
    row = _row(server, load, result, ok_status)
    per_ok = per_item_us({**used, "client": result.client_cpu_seconds}, int(str(row["ok"])))
    return {
        **row,
        "server_cpu": used["server"] / seconds,
        "client_cpu": result.client_cpu_seconds / seconds,
        "broker_cpu": used["rabbitmq"] / seconds,
        "server_cpu_us": per_ok["server_cpu_us"],
        "rabbitmq_cpu_us": per_ok["rabbitmq_cpu_us"],
        "client_cpu_us": per_ok["client_cpu_us"],
    }


def _measure(
    server: str,
    url: str,
    ok_status: int,
    pid: int,
    *,
    duration: float,
    rates: list[float],
    bodies: list[str],
) -> list[dict[str, object]]:
    def load(rate: float | None) -> Callable[[], LoadResult]:
        return lambda: run_load(url, bodies, duration=duration, rate=rate)

    rows = [_measured(server, pid, "saturation", ok_status, load(None))]
    for rate in rates:
        rows.append(_measured(server, pid, f"{rate:.0f}/s offered", ok_status, load(rate)))
    return rows


async def main(duration: float, rates: list[float], workers: list[int], tracing: bool) -> None:
    bodies = [hook.form for hook in office_sales(int(12_000 * duration))]
    async with stack() as services, span_sink(enabled=tracing) as sink:
        bare_port = free_port()
        baseline = services.start("bare", "-m", "bench.bare_server", str(bare_port))
        await wait_http(f"http://127.0.0.1:{bare_port}/healthz")
        url = f"http://127.0.0.1:{bare_port}/webhooks/tevo/x"
        rows = _measure(
            "bare aiohttp", url, 200, baseline.pid, duration=duration, rates=rates, bodies=bodies
        )
        services.stop("bare")
        for count in workers:
            rows += await _measure_ingress(services, count, duration, rates, bodies)
            if sink is not None:
                traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url}
                rows += await _measure_ingress(
                    services, count, duration, rates, bodies, tracing=traced
                )
    bare = float(str(rows[0]["ok_per_s"]))
    saturated = {
        str(r["server"]): float(str(r["ok_per_s"])) for r in rows if r["load"] == "saturation"
    }
    ratios = {server: rate / bare for server, rate in saturated.items() if bare}
    cpu_ratios = _cpu_ratios(rows)
    report(
        "ingress_load",
        rows,
        {
            "ratio_to_bare": ratios,
            "cpu_ratio_to_bare": cpu_ratios,
            "peak_rss_mb_largest_process": services.peak_rss_mb,
            "peak_rss_mb_all_processes": services.total_rss_mb,
        },
    )
    print(f"saturation / bare: { {k: round(v, 2) for k, v in ratios.items()} }")
    print(f"bare CPU µs / server CPU µs, saturation: {cpu_ratios}")
    print(f"peak RSS MB, largest process: {services.peak_rss_mb}")
    print(f"peak RSS MB, all processes:   {services.total_rss_mb}")


def _cpu_ratios(rows: list[dict[str, object]]) -> dict[str, float]:
    """Bare aiohttp's server CPU per webhook over each server's, at saturation: the share of
    a webhook's cost that HTTP itself is; the throughput ratio when the server is CPU-bound."""
    costs = {
        str(r["server"]): float(str(r["server_cpu_us"]))
        for r in rows
        if r["load"] == "saturation" and r["server_cpu_us"] is not None
    }
    bare = costs.get("bare aiohttp")
    return {name: round(bare / cost, 3) for name, cost in costs.items() if bare and cost}


async def _measure_ingress(
    services: Stack,
    workers: int,
    duration: float,
    rates: list[float],
    bodies: list[str],
    *,
    tracing: dict[str, str] | None = None,
) -> list[dict[str, object]]:
    name = f"ingress x{workers}" + (" traced" if tracing else "")
    port = free_port()
    served = services.start(
        name,
        "-m",
        "ingress",
        # info, as in production: the one `webhook.accepted` line per webhook is measured too
        extra_env={
            "TEVO_INGRESS_PORT": str(port),
            "TEVO_INGRESS_HOST": "127.0.0.1",
            "TEVO_LOG_LEVEL": "info",
            "TEVO_INGRESS_WORKERS": str(workers),
            **(tracing or {}),
        },
    )
    # Each worker has its own broker connection: ask often enough, on fresh connections, to
    # have asked every one of them.
    await wait_http(f"http://127.0.0.1:{port}/readyz", times=8 * workers)
    url = f"http://127.0.0.1:{port}/webhooks/tevo/{TOKEN}"
    rows = _measure(name, url, 202, served.pid, duration=duration, rates=rates, bodies=bodies)
    services.stop(name)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rates", default="500,1000", help="offered rates, webhooks/s")
    parser.add_argument("--workers", default="1,2", help="TEVO_INGRESS_WORKERS values to run")
    parser.add_argument("--tracing", action="store_true", help="each ingress traced as well")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    asyncio.run(main(args.duration, rates, workers, args.tracing))
