"""The whole service as real processes, under real load, for tests that break things.

`stack` runs `python -m processor migrate`, then `python -m ingress` and `python -m processor`
on 127.0.0.1 with the test's namespace and database. `Load` posts real-shaped seller
order_created webhooks, each with an order id of its own, and retries a 503 as TEvo would.
Tests here stop and start the shared RabbitMQ and Postgres: the session holds the services lock
exclusively (see tests/conftest.py), every stop is undone in a `finally`, and the session ends
by making sure both are up.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aio_pika
import aiohttp
import asyncpg
import pytest

from contracts.topology import Topology
from tests.conftest import TEST_RETRY_DELAYS, Services
from tests.faults.load import Load, applied_rows
from tests.faults.services import start_what_is_down
from tests.integration.conftest import eventually
from tests.processes import Service, free_port, outcomes, service_env

TOKEN = "faults-token-0123456789abcdef0123"
CONSUMER = "seller.order_created"
# Enough attempts to outlast a Postgres restart: about 1 + 2 * 10 seconds.
RETRY_MAX_ATTEMPTS = 12


@pytest.fixture(scope="session", autouse=True)
def services_left_running(services: Services) -> Iterator[None]:
    """However the session went, it leaves RabbitMQ and Postgres up for everyone else."""
    yield
    if local_services(services):
        asyncio.run(start_what_is_down())


@dataclass
class Stack:
    ingress: Service
    processor: Service
    base_url: str
    database_url: str
    amqp_url: str
    topology: Topology

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/tevo/{TOKEN}"

    async def ready(self) -> int:
        async with aiohttp.ClientSession() as session, session.get(f"{self.base_url}/readyz") as r:
            return r.status

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)


@pytest.fixture
async def stack(
    services: Services, namespace: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    if not local_services(services):
        pytest.skip("fault tests restart RabbitMQ and Postgres: TEST_* must name local ones")
    port = free_port()
    env = service_env(
        {
            "TEVO_AMQP_URL": services.amqp_url,
            "TEVO_DATABASE_URL": database_url,
            "TEVO_NAMESPACE": namespace,
            "TEVO_WEBHOOK_TOKENS": TOKEN,
            "TEVO_INGRESS_HOST": "127.0.0.1",
            "TEVO_INGRESS_PORT": str(port),
            "TEVO_CONFIRM_TIMEOUT": "2",
            "TEVO_RETRY_DELAYS": ",".join(str(s) for s in TEST_RETRY_DELAYS),
            "TEVO_RETRY_MAX_ATTEMPTS": str(RETRY_MAX_ATTEMPTS),
            "TEVO_SHUTDOWN_TIMEOUT": "5",
        }
    )
    migrate = Service("migrate", ["-m", "processor", "migrate"], env, tmp_path / "migrate.log")
    await migrate.start()
    assert await migrate.wait() == 0, migrate.tail()
    stack = Stack(
        Service("ingress", ["-m", "ingress"], env, tmp_path / "ingress.log"),
        Service("processor", ["-m", "processor"], env, tmp_path / "processor.log"),
        f"http://127.0.0.1:{port}",
        database_url,
        services.amqp_url,
        Topology(namespace),
    )
    try:
        await stack.processor.start()
        await stack.ingress.start()
        await eventually(lambda: _up(stack), within=90, interval=0.1)
        yield stack
    finally:
        for service in (stack.ingress, stack.processor):
            await service.stop()


async def _up(stack: Stack) -> bool | None:
    try:
        ready = await stack.ready() == 200
    except aiohttp.ClientError:
        return None
    return (ready and stack.processor.logged("processor.started")) or None


def management_api(amqp_url: str) -> tuple[str, dict[str, str]]:
    """The management API next to `amqp_url` (port 15672) and headers with its credentials."""
    parts = urlsplit(amqp_url)
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"http://{parts.hostname}:15672/api", {"Authorization": f"Basic {token}"}


def local_services(services: Services) -> bool:
    """True when the tests run against services on this machine, which they may restart."""
    hosts = {urlsplit(services.amqp_url).hostname, urlsplit(services.database_url).hostname}
    return bool(os.environ.get("TEST_AMQP_URL")) and hosts <= {"127.0.0.1", "localhost"}


async def queue_depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def exactly_once(stack: Stack, load: Load) -> dict[str, int]:
    """Wait until the processor has caught up, check exactly once, and return the counts."""
    everything = load.accepted | load.refused | load.abandoned
    conn = await stack.db()
    try:

        async def caught_up() -> bool | None:
            rows = await applied_rows(conn, everything)
            queue = stack.topology.consumer_queue(CONSUMER)
            done = set(rows["sales"]) >= load.accepted
            return (done and await queue_depth(stack.amqp_url, queue) == 0) or None

        await eventually(caught_up, within=120, interval=0.5)
        rows = await applied_rows(conn, everything)
    finally:
        await conn.close()
    dead = await queue_depth(stack.amqp_url, stack.topology.dead_letter_queue(CONSUMER))
    seen = outcomes(stack.processor)
    counts = {
        "sent": load.sent,
        "posts": load.posts,
        "accepted": len(load.accepted),
        "refused_401": len(load.refused),
        "answered_503": load.statuses[503],
        "applied": len(rows["sales"]),
        "duplicates": seen["duplicate"],
        "retried": seen["retried"],
        "dead_lettered": dead,
    }
    assert not load.abandoned, f"orders never accepted: {counts}"
    assert set(rows["sales"]) == load.accepted, f"a row for an order not accepted: {counts}"
    assert set(rows["sales"].values()) == {1}, counts
    assert rows["order_history"] == rows["sales"], f"an order applied twice: {counts}"
    assert dead == 0, counts
    return counts
