"""HTTP load generation on loopback: closed loop (saturation) and open loop (a fixed offered rate).

The client must cost the machine far less than the server it measures, since both share its
cores: each worker is a process of its own speaking HTTP/1.1 straight over asyncio protocols
(uvloop when installed), with every request's bytes built before the clock starts and only the
status line and `Content-Length` of an answer read. Open-loop latency is measured from each
request's scheduled start, so a stalled server is not hidden by a client that waits for it
(coordinated omission). Each worker reports the CPU it used, so a report can show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_OPEN_CONNECTIONS = 2000  # per worker, open loop: past it, requests count as failed (status 0)


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu_seconds: float = 0.0  # all workers together
    # The status of each request, by its index in the bodies given (-1: never sent), so that a
    # caller can tell which webhooks were accepted.
    answers: list[int] = field(default_factory=list)

    def merge(self, other: LoadResult) -> None:
        self.statuses.update(other.statuses)
        self.latencies_ms.extend(other.latencies_ms)
        self.seconds = max(self.seconds, other.seconds)
        self.client_cpu_seconds += other.client_cpu_seconds


def encode_requests(url: str, bodies: list[str]) -> list[bytes]:
    """Each form body as the complete bytes of a keep-alive POST to `url`."""
    parts = urlsplit(url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {FORM_TYPE}\r\n"
    return [
        f"{head}Content-Length: {len(encoded)}\r\n\r\n".encode() + encoded
        for encoded in (body.encode() for body in bodies)
    ]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer's status handed to `done`."""

    transport: asyncio.Transport

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._done: Callable[[int], None] | None = None
        self._closing = False
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # TCP always gives one

    def send(self, request: bytes, done: Callable[[int], None]) -> None:
        self._done = done
        self.transport.write(request)

    @property
    def usable(self) -> bool:
        return not self._closing and not self.lost.done()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip() == b"close":
                self._closing = True
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        self._finish(int(head[9:12]))

    def _finish(self, status: int) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(status)
        if self._closing:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002 - why it broke off does not matter to a count
        self._closing = True
        self._finish(0)  # an answer cut off, or never sent: a failed request
        if not self.lost.done():
            self.lost.set_result(None)


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Connection, host, port)
    return protocol


async def _exchange(
    address: tuple[str, int],
    pool: list[_Connection],
    index: int,
    request: bytes,
    result: LoadResult,
) -> int:
    """Send one request on an idle connection from `pool` (or a new one), return its status."""
    while pool and not pool[-1].usable:
        pool.pop()
    try:
        connection = pool.pop() if pool else await _connect(*address)
    except OSError:
        result.statuses[0] += 1
        result.answers[index] = 0
        return 0
    answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    connection.send(request, answered.set_result)
    status = await answered
    result.statuses[status] += 1
    result.answers[index] = status
    if connection.usable:
        pool.append(connection)
    return status


async def _closed(url: str, requests: list[bytes], concurrency: int, duration: float) -> LoadResult:
    result = LoadResult(answers=[-1] * len(requests))
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    deadline = time.perf_counter() + duration

    async def worker(offset: int) -> None:
        pool: list[_Connection] = []
        for index in range(offset, len(requests), concurrency):
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            await _exchange(address, pool, index, requests[index], result)
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
        for connection in pool:
            connection.transport.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def _open(url: str, requests: list[bytes], rate: float, duration: float) -> LoadResult:
    result = LoadResult(answers=[-1] * len(requests))
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    pool: list[_Connection] = []
    in_flight: set[asyncio.Task[None]] = set()

    async def one(index: int, scheduled: float) -> None:
        if len(in_flight) > MAX_OPEN_CONNECTIONS:
            result.statuses[0] += 1  # the client's own limit: the server fell this far behind
            result.answers[index] = 0
        else:
            await _exchange(address, pool, index, requests[index], result)
        result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)

    started = time.perf_counter()
    for index in range(min(len(requests), int(rate * duration))):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(index, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    while in_flight:
        await asyncio.gather(*in_flight)
    result.seconds = time.perf_counter() - started
    for connection in pool:
        connection.transport.close()
    return result


def _worker(args: tuple[str, str, list[bytes], float, int, float]) -> LoadResult:
    mode, url, requests, rate, concurrency, duration = args
    runner = _event_loop_runner()
    cpu_started = time.process_time()
    with runner:
        if mode == "open":
            result = runner.run(_open(url, requests, rate, duration))
        else:
            result = runner.run(_closed(url, requests, concurrency, duration))
    result.client_cpu_seconds = time.process_time() - cpu_started
    return result


def _event_loop_runner() -> asyncio.Runner:
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional: the load is lighter with it, and runs without

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


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
    requests = encode_requests(url, bodies)
    shares = [requests[i::processes] for i in range(processes)]
    mode = "open" if rate else "closed"
    per_rate = (rate or 0) / processes
    jobs = [
        (mode, url, share, per_rate, max(1, concurrency // processes), duration) for share in shares
    ]
    total = LoadResult(answers=[-1] * len(requests))
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for number, part in enumerate(pool.map(_worker, jobs)):
            total.merge(part)
            total.answers[number::processes] = part.answers  # share `number` is every n-th
    return total
