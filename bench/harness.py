"""Run the real services as loopback subprocesses and measure them: what every benchmark shares."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg

from bench.cpu import Finder, listener_pid, postgres_for, process_tree, tree_of

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TOKEN = "bench-token-" + "x" * 32
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_PORT = urlsplit(AMQP_URL).port or 5672
POSTGRES_PORT = urlsplit(DATABASE_URL).port or 5432


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def free_port() -> int:
    import socket  # noqa: PLC0415 - only the harness needs it

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    """A scratch namespace and database, and the service processes started in them."""

    namespace: str
    database_url: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # the largest process's
    total_rss_mb: dict[str, float] = field(default_factory=dict)  # its processes' peaks, summed

    def start(
        self,
        name: str,
        *args: str,
        extra_env: dict[str, str] | None = None,
        stdout: int = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        env = {**self.env, **(extra_env or {})}
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
        self.processes[name] = process
        return process

    def sample_rss(self) -> None:
        for name in self.processes:
            self._sample_rss(name)

    def _sample_rss(self, name: str) -> None:
        """Peak RSS of the service's processes: the parent and any workers it started."""
        peaks = [peak_rss_mb(pid) for pid in process_tree(self.processes[name].pid)]
        known = [rss for rss in peaks if rss is not None]
        if known:
            self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), *known)
            self.total_rss_mb[name] = max(self.total_rss_mb.get(name, 0.0), sum(known))

    def role(self, name: str) -> Finder:
        """The CPU role of service `name`: its processes while it runs (see `bench.cpu`)."""

        def find() -> list[int]:
            process = self.processes.get(name)
            return process_tree(process.pid) if process is not None else []

        return find

    def roles(self, *names: str) -> dict[str, Finder]:
        """CPU roles: the services `names`, RabbitMQ's node and Postgres for this database."""
        return {
            **{name: self.role(name) for name in names},
            "rabbitmq": tree_of(listener_pid(AMQP_PORT)),  # the node this bench talks to
            "postgres": postgres_for(POSTGRES_PORT, urlsplit(self.database_url).path.lstrip("/")),
        }

    def stop(self, name: str) -> None:
        self._sample_rss(name)
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the process's peak resident set, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@contextlib.asynccontextmanager
async def stack(**settings: str) -> AsyncIterator[Stack]:
    """Create a scratch database and namespace, migrate, and clean both up afterwards."""
    ns = f"bench{uuid.uuid4().hex[:8]}"
    db_name = f"tevo_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(DATABASE_URL)
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    database_url = with_database(DATABASE_URL, db_name)
    env = {
        **os.environ,
        "TEVO_AMQP_URL": AMQP_URL,
        "TEVO_DATABASE_URL": database_url,
        "TEVO_NAMESPACE": ns,
        "TEVO_WEBHOOK_TOKENS": TOKEN,
        "TEVO_LOG_LEVEL": "warning",
        "TEVO_LOG_FORMAT": "json",
        **{f"TEVO_{k.upper()}": v for k, v in settings.items()},
    }
    current = Stack(ns, database_url, env)
    try:
        migrate = current.start("migrate", "-m", "processor", "migrate")
        current.processes.pop("migrate")
        if migrate.wait(timeout=120) != 0:
            raise RuntimeError("migrate failed")
        yield current
    finally:
        for name in list(current.processes):
            current.stop(name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.close()
        await delete_namespace(ns)


async def delete_namespace(ns: str) -> None:
    """Delete every queue and exchange under `ns`: all of them through the management API, or,
    on a broker without it, the ones the topology names, over AMQP."""
    try:
        await _delete_over_http(ns)
    except (aiohttp.ClientError, OSError, ValueError):
        await _delete_over_amqp(ns)


async def _delete_over_http(ns: str) -> None:
    api = urlsplit(AMQP_URL)
    base = f"http://{api.hostname}:15672/api"
    auth = aiohttp.BasicAuth(api.username or "guest", api.password or "guest")
    async with aiohttp.ClientSession(auth=auth, raise_for_status=True) as http:
        for kind in ("queues", "exchanges"):
            async with http.get(f"{base}/{kind}/%2F") as response:
                items = await response.json()
            for item in items:
                if item["name"].startswith(f"{ns}."):
                    async with http.delete(f"{base}/{kind}/%2F/{item['name']}"):
                        pass


async def _delete_over_amqp(ns: str) -> None:
    from processor.registry import CONSUMERS  # noqa: PLC0415 - only without the management API
    from processor.runtime.topology import all_queues  # noqa: PLC0415
    from processor.settings import ProcessorSettings  # noqa: PLC0415

    settings = ProcessorSettings(namespace=ns)
    topology = settings.topology
    queues = [spec.name for spec in all_queues(topology, CONSUMERS, settings.retry_delays)]
    exchanges = [
        spec.name for spec in (*topology.processor_exchanges(), *topology.ingress_exchanges())
    ]
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)  # a queue that is not there is no error
        for exchange in dict.fromkeys(exchanges):
            await channel.exchange_delete(exchange)


async def wait_http(url: str, within: float = 30.0, times: int = 1) -> None:
    """Wait until `url` answers 200 `times` times in a row, each on a fresh connection."""
    deadline = time.monotonic() + within
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        streak = 0
        while streak < times:
            status = 0
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    status = response.status
            streak = streak + 1 if status == 200 else 0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready within {within}s")
            if streak == 0:
                await asyncio.sleep(0.1)


async def queue_depth(channel: aio_pika.abc.AbstractChannel, ns: str, queue: str) -> int:
    """The queue's depth, on the caller's channel: a watcher polls on one connection."""
    declared = await channel.declare_queue(f"{ns}.{queue}", passive=True)
    return int(declared.declaration_result.message_count or 0)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def report(name: str, rows: list[dict[str, object]], extra: dict[str, object]) -> None:
    """Print rows as a table and write them, with the machine, to bench/results/<name>.json."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = {c: max(len(c), *(len(_cell(row.get(c))) for row in rows)) for c in columns}
    print(" | ".join(c.ljust(widths[c]) for c in columns))
    print("-|-".join("-" * widths[c] for c in columns))
    for row in rows:
        print(" | ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns))
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "rows": rows, **extra}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nJSON: {path.relative_to(ROOT)}")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)
