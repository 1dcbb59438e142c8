"""HTTP load generation on loopback: closed loop (saturation) and open loop (a fixed offered rate).

Each worker is a process of its own, so the client is not the first thing to saturate. Open-loop
latency is measured from each request's scheduled start, so a stalled server is not hidden by a
client that waits for it (coordinated omission).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.statuses.update(other.statuses)
        self.latencies_ms.extend(other.latencies_ms)
        self.seconds = max(self.seconds, other.seconds)


async def _post(
    http: aiohttp.ClientSession, url: str, body: str, start: float, result: LoadResult
) -> None:
    try:
        async with http.post(url, data=body, headers=FORM) as response:
            await response.read()
            result.statuses[response.status] += 1
    except aiohttp.ClientError:
        result.statuses[0] += 1
    result.latencies_ms.append((time.perf_counter() - start) * 1000)


async def _closed(url: str, bodies: list[str], concurrency: int, duration: float) -> LoadResult:
    result = LoadResult()
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker(offset: int) -> None:
            index = offset
            while time.perf_counter() < deadline and index < len(bodies):
                await _post(http, url, bodies[index], time.perf_counter(), result)
                index += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


async def _open(url: str, bodies: list[str], rate: float, duration: float) -> LoadResult:
    result = LoadResult()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = []
        started = time.perf_counter()
        count = min(len(bodies), int(rate * duration))
        for index in range(count):
            scheduled = started + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_post(http, url, bodies[index], scheduled, result)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - started
    return result


def _worker(args: tuple[str, str, list[str], float, int, float]) -> LoadResult:
    mode, url, bodies, rate, concurrency, duration = args
    if mode == "open":
        return asyncio.run(_open(url, bodies, rate, duration))
    return asyncio.run(_closed(url, bodies, concurrency, duration))


def run_load(
    url: str,
    bodies: list[str],
    *,
    duration: float,
    rate: float | None = None,
    concurrency: int = 64,
    processes: int = 2,
) -> LoadResult:
    """Post `bodies` (split across worker processes) at `rate`/s in all, or as fast as possible."""
    shares = [bodies[i::processes] for i in range(processes)]
    mode = "open" if rate else "closed"
    per_rate = (rate or 0) / processes
    jobs = [
        (mode, url, share, per_rate, max(1, concurrency // processes), duration) for share in shares
    ]
    total = LoadResult()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for part in pool.map(_worker, jobs):
            total.merge(part)
    return total
