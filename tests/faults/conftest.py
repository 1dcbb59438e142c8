"""The whole service as real processes on a broker and a database of its own, to break.

A session starts a private RabbitMQ node and a private Postgres cluster (`tests/faults/services.py`)
and migrates a template database there; nothing here touches the shared services. Each test gets
a namespace and a database of its own, and `stack` runs `python -m processor migrate`, then
`python -m ingress` and `python -m processor` on 127.0.0.1 against them. `Load` posts
real-shaped seller order_created webhooks, each with an order id of its own, and retries a 503 as
TEvo would. The suite runs only when asked (TEST_FAULTS=1, or `-m faults`: see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg
import pytest

from contracts.topology import Topology
from processor.ops.migrate import migrate
from tests.conftest import TEST_RETRY_DELAYS, delete_namespace
from tests.faults.load import Load, applied_rows
from tests.faults.services import PrivatePostgres, PrivateRabbit
from tests.integration.conftest import eventually
from tests.processes import Service, free_port, outcomes, readyz, service_env, serving

TOKEN = "faults-token-0123456789abcdef0123"
CONSUMER = "seller.order_created"
# Enough attempts to outlast a Postgres restart: about 1 + 2 * 10 seconds.
RETRY_MAX_ATTEMPTS = 12
TEMPLATE = "tevo_faults_template"


@dataclass
class Private:
    rabbit: PrivateRabbit
    postgres: PrivatePostgres


@pytest.fixture(scope="session")
def private() -> Iterator[Private]:
    """A RabbitMQ node and a Postgres cluster of this session's own, deleted at its end."""
    # A short path: Postgres' socket path must stay under about 100 characters.
    base = Path(tempfile.mkdtemp(prefix="tevo-faults-"))
    base.chmod(0o755)  # Postgres' own user must reach its data directory inside
    rabbit, postgres = PrivateRabbit(base / "rabbitmq"), PrivatePostgres(base / "postgres")
    try:
        rabbit.spawn()  # boots while Postgres is created
        postgres.create()
        asyncio.run(_first_start(rabbit, postgres))
        yield Private(rabbit, postgres)
    finally:
        rabbit.stop()
        asyncio.run(_stop_if_running(postgres))
        shutil.rmtree(base, ignore_errors=True)


async def _first_start(rabbit: PrivateRabbit, postgres: PrivatePostgres) -> None:
    await postgres.start()
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await conn.close()
    await migrate(postgres.url.rsplit("/", 1)[0] + f"/{TEMPLATE}")
    await rabbit.up()


async def _stop_if_running(postgres: PrivatePostgres) -> None:
    if await postgres.running():
        await postgres.stop("immediate")


@pytest.fixture(autouse=True)
async def services_up(private: Private) -> None:
    """Each test starts with both services up, whatever the test before did to them."""
    await private.rabbit.up()
    if not await private.postgres.running():
        await private.postgres.start()


@pytest.fixture
async def fault_namespace(private: Private) -> AsyncIterator[str]:
    ns = f"f{uuid.uuid4().hex[:10]}"
    yield ns
    await private.rabbit.up()
    await delete_namespace(private.rabbit.url, ns)


@pytest.fixture
async def fault_database_url(private: Private) -> str:
    name = f"tevo_f_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(private.postgres.url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    finally:
        await conn.close()
    return private.postgres.url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Stack:
    ingress: Service
    processor: Service
    base_url: str
    processor_url: str
    database_url: str
    private: Private
    topology: Topology

    @property
    def amqp_url(self) -> str:
        return self.private.rabbit.url

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/tevo/{TOKEN}"

    async def ready(self) -> int:
        return await readyz(self.base_url)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)

    async def processor_get(self, path: str) -> tuple[int, str]:
        """(status, body) of the processor's own HTTP port: `/readyz`, `/metrics`."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.processor_url}{path}") as response,
        ):
            return response.status, await response.text()


def stack_env(private: Private, namespace: str, database_url: str, **more: str) -> dict[str, str]:
    """The settings of every process of a stack."""
    return service_env(
        {
            "TEVO_AMQP_URL": private.rabbit.url,
            "TEVO_DATABASE_URL": database_url,
            "TEVO_NAMESPACE": namespace,
            "TEVO_WEBHOOK_TOKENS": TOKEN,
            "TEVO_INGRESS_HOST": "127.0.0.1",
            "TEVO_PROCESSOR_HTTP_HOST": "127.0.0.1",
            "TEVO_CONFIRM_TIMEOUT": "2",
            "TEVO_RETRY_DELAYS": ",".join(str(s) for s in TEST_RETRY_DELAYS),
            "TEVO_RETRY_MAX_ATTEMPTS": str(RETRY_MAX_ATTEMPTS),
            "TEVO_SHUTDOWN_TIMEOUT": "5",
            **more,
        }
    )


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest,
    private: Private,
    fault_namespace: str,
    fault_database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """`@pytest.mark.stack_env(TEVO_...=...)` changes the settings of the test's processes."""
    port, processor_port = free_port(), free_port()
    marker = request.node.get_closest_marker("stack_env")
    env = stack_env(
        private,
        fault_namespace,
        fault_database_url,
        TEVO_INGRESS_PORT=str(port),
        TEVO_PROCESSOR_HTTP_PORT=str(processor_port),
        **(marker.kwargs if marker else {}),
    )
    migrate_ = Service("migrate", ["-m", "processor", "migrate"], env, tmp_path / "migrate.log")
    await migrate_.start()
    assert await migrate_.wait() == 0, migrate_.tail()
    stack = Stack(
        Service("ingress", ["-m", "ingress"], env, tmp_path / "ingress.log"),
        Service("processor", ["-m", "processor"], env, tmp_path / "processor.log"),
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{processor_port}",
        fault_database_url,
        private,
        Topology(fault_namespace),
    )
    async with serving(stack.ingress, stack.processor, stack.base_url):
        yield stack


async def queue_depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def exactly_once(stack: Stack, load: Load, *, dead: int = 0) -> dict[str, int]:
    """Wait until the processor has caught up, check exactly once, and return the counts.

    `dead` is how many messages the test itself made fail for good: those, and only those, wait
    in the dead-letter queue.
    """
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
    dead_letters = await queue_depth(stack.amqp_url, stack.topology.dead_letter_queue(CONSUMER))
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
        "dead_lettered": dead_letters,
    }
    assert not load.abandoned, f"orders never accepted: {counts}"
    assert set(rows["sales"]) == load.accepted, f"a row for an order not accepted: {counts}"
    assert set(rows["sales"].values()) == {1}, counts
    assert rows["order_history"] == rows["sales"], f"an order applied twice: {counts}"
    assert dead_letters == dead, counts
    return counts
