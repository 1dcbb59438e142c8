"""Benchmark 1: webhooks/s the ingress accepts (every 202 confirmed), beside a bare aiohttp handler.

    python -m bench.ingress_load [--duration 10] [--rates 500,1000]

Both servers run as processes on loopback and get the same Office order_created forms: first
at saturation (closed loop, 64 connections), then at each fixed offered rate (open loop).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.harness import TOKEN, free_port, percentile, report, stack, wait_http
from bench.load import LoadResult, run_load
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


def _measure(
    server: str, url: str, ok_status: int, *, duration: float, rates: list[float], bodies: list[str]
) -> list[dict[str, object]]:
    rows = [_row(server, "saturation", run_load(url, bodies, duration=duration), ok_status)]
    for rate in rates:
        result = run_load(url, bodies, duration=duration, rate=rate)
        rows.append(_row(server, f"{rate:.0f}/s offered", result, ok_status))
    return rows


async def main(duration: float, rates: list[float]) -> None:
    bodies = [hook.form for hook in office_sales(int(12_000 * duration))]
    rows: list[dict[str, object]] = []
    async with stack() as services:
        bare_port = free_port()
        services.start("bare", "-m", "bench.bare_server", str(bare_port))
        await wait_http(f"http://127.0.0.1:{bare_port}/healthz")
        rows += _measure(
            "bare aiohttp",
            f"http://127.0.0.1:{bare_port}/webhooks/tevo/x",
            200,
            duration=duration,
            rates=rates,
            bodies=bodies,
        )
        services.stop("bare")

        port = free_port()
        services.start(
            "ingress",
            "-m",
            "ingress",
            extra_env={"TEVO_INGRESS_PORT": str(port), "TEVO_INGRESS_HOST": "127.0.0.1"},
        )
        await wait_http(f"http://127.0.0.1:{port}/readyz")
        started = time.perf_counter()
        rows += _measure(
            "ingress",
            f"http://127.0.0.1:{port}/webhooks/tevo/{TOKEN}",
            202,
            duration=duration,
            rates=rates,
            bodies=bodies,
        )
        services.sample_rss()
        elapsed = time.perf_counter() - started
    bare, ingress = float(str(rows[0]["ok_per_s"])), float(str(rows[len(rates) + 1]["ok_per_s"]))
    report(
        "ingress_load",
        rows,
        {
            "ratio_ingress_to_bare": ingress / bare if bare else None,
            "peak_rss_mb": services.peak_rss_mb,
            "ingress_phase_seconds": elapsed,
        },
    )
    print(f"ingress/bare at saturation: {ingress / bare:.2f}; peak RSS MB: {services.peak_rss_mb}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rates", default="500,1000", help="offered rates, webhooks/s")
    args = parser.parse_args()
    asyncio.run(main(args.duration, [float(r) for r in args.rates.split(",")]))
