"""`migrate` sets a fresh namespace's policies through the management API of a real broker.

A private RabbitMQ node with its management plugin (the shared one may run without it): after
`migrate`, `GET /api/policies` lists one policy per queue of the namespace, with the limits
the queues are declared with; a second `migrate` changes nothing; the policies go with the node.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.topology import DELIVERY_LIMIT
from processor.commands import migrate
from processor.ops.broker_policies import (
    ManagementApi,
    PoliciesNotSet,
    delete_policies,
    list_policies,
)
from processor.ops.definitions import UNBOUNDED_DELIVERIES, policies
from processor.registry import CONSUMERS
from processor.runtime.topology import all_queues
from processor.settings import ProcessorSettings
from tests.faults.services import PrivateRabbit
from tests.integration.conftest import eventually
from tests.processes import free_port

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def managed_rabbit() -> Iterator[PrivateRabbit]:
    base = Path(tempfile.mkdtemp(prefix="tevo-mgmt-"))
    rabbit = PrivateRabbit(base / "rabbitmq", management_port=free_port())
    try:
        asyncio.run(rabbit.up())
        yield rabbit
    finally:
        rabbit.stop()
        shutil.rmtree(base, ignore_errors=True)


async def _ours(api: ManagementApi, namespace: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in await list_policies(api, "/") if p["name"].startswith(namespace)}


async def test_migrate_gives_a_fresh_namespace_its_policies_once(
    managed_rabbit: PrivateRabbit, database_url: str
) -> None:
    settings = ProcessorSettings(
        amqp_url=managed_rabbit.url,
        database_url=database_url,
        namespace="fresh",
        rabbitmq_api_url=f"http://127.0.0.1:{managed_rabbit.management_port}/api",
    )
    api = ManagementApi.of(settings.amqp_url, settings.rabbitmq_api_url)
    await eventually(lambda: _answers(api), within=60, interval=0.5)
    assert await _ours(api, "fresh.") == {}

    assert await migrate.main(argparse.Namespace(wait=30.0), settings) == 0
    found = await _ours(api, "fresh.")
    queues = all_queues(settings.topology, CONSUMERS, settings.retry_delays)
    assert sorted(found) == sorted(q.name for q in queues)
    queue = settings.topology.consumer_queue("seller.order_created")
    assert found[queue]["definition"]["delivery-limit"] == DELIVERY_LIMIT
    dead = settings.topology.dead_letter_queue("seller.order_created")
    assert found[dead]["definition"] == {"delivery-limit": UNBOUNDED_DELIVERIES}

    assert await migrate.main(argparse.Namespace(wait=30.0), settings) == 0
    assert await _ours(api, "fresh.") == found  # idempotent: the same, none added

    names = [spec.name for spec in policies(queues)]
    assert await delete_policies(api, "/", names) == len(names)
    assert await _ours(api, "fresh.") == {}


async def _answers(api: ManagementApi) -> bool:
    try:
        await list_policies(api, "/")
    except PoliciesNotSet:  # "not yet": the plugin starts after the node
        return False
    return True
