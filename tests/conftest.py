"""Shared fixtures: real RabbitMQ and Postgres, a namespace and a database of its own per test.

`TEST_AMQP_URL` / `TEST_DATABASE_URL` point at running services; when unset, testcontainers
starts them in Docker once per session. Each test gets a fresh namespace (so its exchanges and
queues are its own, deleted afterwards) and a fresh database cloned from a migrated template.
With neither `TEST_*` nor Docker the integration tests are skipped, with one line saying what
to set, and the unit tests still run; the fault suite runs only with `TEST_FAULTS=1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest

from contracts.brokers import vhost_of
from processor.ops.broker_policies import ManagementApi, PoliciesNotSet, delete_policies
from processor.ops.definitions import policies
from processor.ops.migrate import migrate
from processor.registry import CONSUMERS
from processor.runtime.topology import all_queues
from processor.settings import ProcessorSettings

TEST_RETRY_DELAYS = (1, 2)


@dataclass(frozen=True)
class Services:
    amqp_url: str
    database_url: str  # an admin database on the server; tests get their own next to it


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


FAULTS_SKIP = (
    "fault tests start a RabbitMQ and a Postgres of their own: set TEST_FAULTS=1 or -m faults"
)


NO_SERVICES = (
    "integration tests skipped: set TEST_AMQP_URL and TEST_DATABASE_URL to a running RabbitMQ "
    "and Postgres, or start Docker for testcontainers (README, Tests)"
)


_SKIPPED = pytest.StashKey[int]()


def services_available() -> bool:
    """Whether integration tests can get a broker and a database: named ones, or Docker."""
    named = os.environ.get("TEST_AMQP_URL") and os.environ.get("TEST_DATABASE_URL")
    docker = Path("/var/run/docker.sock").exists() or os.environ.get("DOCKER_HOST")
    return bool(named or docker)


def _faults_wanted(config: pytest.Config) -> bool:
    marks = str(config.getoption("markexpr", "") or "")
    return os.environ.get("TEST_FAULTS") == "1" or ("faults" in marks and "not faults" not in marks)


def pytest_report_header(config: pytest.Config) -> str:
    return "faults: run (private services)" if _faults_wanted(config) else f"faults: {FAULTS_SKIP}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fault suite is slow and starts services of its own: it runs only when asked.

    Without services for the integration tests, the unit tests still run, and the rest say
    once, at the end, what to set.
    """
    if not _faults_wanted(config):
        skip = pytest.mark.skip(reason=FAULTS_SKIP)
        for item in items:
            if item.get_closest_marker("faults"):
                item.add_marker(skip)
    if services_available():
        return
    unavailable = pytest.mark.skip(reason=NO_SERVICES)
    skipped = 0
    for item in items:
        if item.get_closest_marker("integration") or "integration" in item.path.parts:
            item.add_marker(unavailable)
            skipped += 1
    config.stash[_SKIPPED] = skipped


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    amqp, database = os.environ.get("TEST_AMQP_URL"), os.environ.get("TEST_DATABASE_URL")
    if amqp and database:
        yield Services(amqp, database)
        return
    if not services_available():
        # A skip, not an exit: the tests that need no services still run (README, Tests).
        pytest.skip(NO_SERVICES)
    # Imported only when needed: with TEST_* set, Docker and its client are never touched.
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415
    from testcontainers.rabbitmq import RabbitMqContainer  # noqa: PLC0415

    with (
        RabbitMqContainer("rabbitmq:3.13-management") as rabbit,
        PostgresContainer("postgres:15", driver=None) as postgres,
    ):
        params = rabbit.get_connection_params()
        url = f"amqp://guest:guest@{params.host}:{params.port}/"
        yield Services(amqp or url, database or postgres.get_connection_url())


@pytest.fixture(scope="session")
def template_database(services: Services) -> Iterator[str]:
    """A database migrated once per session; every test's database is a copy of it."""
    name = f"tevo_tpl_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(services.database_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate(_with_database(services.database_url, name))

    asyncio.run(create())
    yield name
    asyncio.run(_drop_database(services.database_url, name))


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(services: Services, template_database: str) -> AsyncIterator[str]:
    name = f"tevo_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await conn.close()
    yield _with_database(services.database_url, name)
    await _drop_database(services.database_url, name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def namespace(services: Services) -> AsyncIterator[str]:
    ns = f"t{uuid.uuid4().hex[:10]}"
    yield ns
    await delete_namespace(services.amqp_url, ns)


async def delete_namespace(amqp_url: str, ns: str) -> None:
    """Delete every queue and exchange a test may have declared under `ns`."""
    topology = ProcessorSettings(namespace=ns).topology
    delays = (*TEST_RETRY_DELAYS, *ProcessorSettings().retry_delays)
    queues = [spec.name for spec in all_queues(topology, CONSUMERS, delays)]
    exchanges = [e.name for e in topology.processor_exchanges()]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
    # `migrate` sets policies through the management API when it answers: delete them too.
    api = ManagementApi.of(amqp_url, os.environ.get("TEST_RABBITMQ_API_URL"))
    names = [spec.name for spec in policies(all_queues(topology, CONSUMERS, delays))]
    with contextlib.suppress(PoliciesNotSet):  # no management API: no policy was set either
        await delete_policies(api, vhost_of(amqp_url), names)


@pytest.fixture
def processor_settings(services: Services, database_url: str, namespace: str) -> ProcessorSettings:
    return ProcessorSettings(
        amqp_url=services.amqp_url,
        database_url=database_url,
        namespace=namespace,
        retry_delays=TEST_RETRY_DELAYS,
        retry_max_attempts=3,
        shutdown_timeout=5,
    )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    skipped = config.stash.get(_SKIPPED, 0)
    if skipped:
        terminalreporter.write_line(f"{skipped} {NO_SERVICES}", yellow=True)
