"""The service as real processes against a private three-node RabbitMQ cluster.

Opt-in: these tests run only with `TEST_CLUSTER=1` (or `TEST_FAULTS=1`, which asks for every
test that breaks things), since the cluster alone takes about a minute to start. The cluster is
the test's own (tests/cluster/rabbit.py); Postgres is the shared one, with a database of the
test's own, dropped afterwards. The broker on 5672 is never used or touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.rabbit import Cluster, scripts_dir
from tests.conftest import TEST_RETRY_DELAYS
from tests.processes import Service, free_port, service_env, serving

TOKEN = "cluster-token-0123456789abcdef0123"
CONSUMER = "seller.order_created"


def opted_in() -> bool:
    return any(os.environ.get(flag) == "1" for flag in ("TEST_CLUSTER", "TEST_FAULTS"))


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    scripts = scripts_dir()
    if scripts is None or shutil.which("epmd") is None:
        pytest.skip("RabbitMQ's server scripts and epmd are needed to run a private cluster")
    cluster = Cluster.plan(Path(tempfile.mkdtemp(prefix="tevo-cluster-")), scripts)
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.close()


@dataclass
class ClusterStack:
    cluster: Cluster
    ingress: Service
    processor: Service
    base_url: str
    namespace: str
    database_url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/tevo/{TOKEN}"

    def node_of(self, service: Service) -> str:
        """`host:port` of the node `service` last connected to, from its log."""
        connected = ("broker.connected", "broker.reconnected")
        nodes = [e["node"] for e in service.events() if e.get("event") in connected]
        return str(nodes[-1])


@pytest.fixture
async def stack(cluster: Cluster, database_url: str, tmp_path: Path) -> AsyncIterator[ClusterStack]:
    namespace = f"c{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = service_env(
        {
            "TEVO_AMQP_URL": cluster.urls,
            "TEVO_DATABASE_URL": database_url,
            "TEVO_NAMESPACE": namespace,
            "TEVO_WEBHOOK_TOKENS": TOKEN,
            "TEVO_INGRESS_HOST": "127.0.0.1",
            "TEVO_INGRESS_PORT": str(port),
            "TEVO_CONFIRM_TIMEOUT": "2",
            "TEVO_RETRY_DELAYS": ",".join(str(s) for s in TEST_RETRY_DELAYS),
            "TEVO_RETRY_MAX_ATTEMPTS": "12",
            "TEVO_SHUTDOWN_TIMEOUT": "5",
            "TEVO_PROCESSOR_HTTP_HOST": "127.0.0.1",
            "TEVO_PROCESSOR_HTTP_PORT": "0",
        }
    )
    migrate = Service("migrate", ["-m", "processor", "migrate"], env, tmp_path / "migrate.log")
    await migrate.start()
    assert await migrate.wait(within=120) == 0, migrate.tail()
    stack = ClusterStack(
        cluster,
        Service("ingress", ["-m", "ingress"], env, tmp_path / "ingress.log"),
        Service("processor", ["-m", "processor"], env, tmp_path / "processor.log"),
        f"http://127.0.0.1:{port}",
        namespace,
        database_url,
    )
    async with serving(stack.ingress, stack.processor, stack.base_url):
        yield stack
