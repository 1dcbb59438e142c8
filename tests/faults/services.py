"""Stop and start the local RabbitMQ and Postgres for a block; whatever happens, start them again.

Only for a session that holds the services lock exclusively (tests marked `faults`).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.integration.conftest import eventually


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed: the services are not this machine's to restart")


async def sh(*argv: str, within: float = 120) -> str:
    """Run a command; fail the test, with its output, when it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=within)
    text = out.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(argv)} exited {process.returncode}: {text}"
    return text


async def postgres_cluster(port: int = 5432) -> tuple[str, str, str] | None:
    """(version, name, status) of the local cluster on `port`, as pg_lsclusters lists it."""
    for line in (await sh("pg_lsclusters", "--no-header")).splitlines():
        version, name, cluster_port, status, *_ = line.split()
        if int(cluster_port) == port:
            return version, name, status
    return None


@asynccontextmanager
async def rabbitmq_stopped() -> AsyncIterator[None]:
    """RabbitMQ's application stopped for the block, started again whatever happens."""
    _need("rabbitmqctl")
    await sh("rabbitmqctl", "stop_app")
    try:
        yield
    finally:
        await sh("rabbitmqctl", "start_app")
        await sh("rabbitmqctl", "await_startup", "--timeout", "120")


@asynccontextmanager
async def publishers_blocked() -> AsyncIterator[None]:
    """A memory alarm for the block: RabbitMQ blocks publishing connections, confirms stop."""
    _need("rabbitmqctl")
    watermark = "vm_memory_monitor:get_vm_memory_high_watermark()."
    before = (await sh("rabbitmqctl", "eval", watermark)).strip()
    await sh("rabbitmqctl", "set_vm_memory_high_watermark", "0")
    try:
        yield
    finally:
        if before.startswith("{absolute,"):  # an absolute limit: {absolute,Bytes}
            limit = before.removeprefix("{absolute,").rstrip("}")
            await sh("rabbitmqctl", "set_vm_memory_high_watermark", "absolute", limit)
        else:
            await sh("rabbitmqctl", "set_vm_memory_high_watermark", before)


@asynccontextmanager
async def postgres_stopped() -> AsyncIterator[None]:
    """Postgres stopped (fast: sessions cut) for the block, started again whatever happens."""
    _need("pg_lsclusters")
    cluster = await postgres_cluster()
    if cluster is None:
        pytest.skip("no local Postgres cluster on port 5432 to restart")
    version, name, _ = cluster
    await sh("pg_ctlcluster", "--skip-systemctl-redirect", version, name, "stop", "-m", "fast")
    try:
        yield
    finally:
        await sh("pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start")
        await _postgres_accepting()


async def _postgres_accepting() -> None:
    async def ready() -> bool | None:
        process = await asyncio.create_subprocess_exec(
            "pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"
        )
        return await process.wait() == 0 or None

    await eventually(ready, within=60, interval=0.2)


async def start_what_is_down() -> None:
    """Start RabbitMQ's application and the Postgres cluster, if they are down."""
    if shutil.which("rabbitmqctl"):
        await sh("rabbitmqctl", "start_app")  # a no-op when it runs
    cluster = await postgres_cluster() if shutil.which("pg_lsclusters") else None
    if cluster is not None and cluster[2] != "online":
        version, name, _ = cluster
        await sh("pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start")
