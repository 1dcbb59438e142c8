"""`migrate` gives a fresh namespace its queue policies on the broker, idempotently.

Through the management API (port 15672 of the `TEST_AMQP_URL` host, or `TEST_RABBITMQ_API_URL`);
the policies a test made are deleted by the `namespace` fixture.
"""

from __future__ import annotations

import argparse
import os

import pytest
from structlog.testing import capture_logs

from contracts.topology import DELIVERY_LIMIT
from processor.commands import migrate
from processor.ops.broker_policies import ManagementApi, PoliciesNotSet, list_policies
from processor.ops.definitions import UNBOUNDED_DELIVERIES
from processor.settings import ProcessorSettings

pytestmark = pytest.mark.integration

ARGS = argparse.Namespace(wait=10.0)


def _api(settings: ProcessorSettings) -> ManagementApi:
    return ManagementApi.of(settings.amqp_url, os.environ.get("TEST_RABBITMQ_API_URL"))


async def _ours(settings: ProcessorSettings) -> dict[str, dict[str, object]]:
    try:
        found = await list_policies(_api(settings), "/")
    except PoliciesNotSet as exc:
        pytest.skip(f"no RabbitMQ management API: {exc}")
    prefix = f"{settings.namespace}."
    return {p["name"]: p for p in found if p["name"].startswith(prefix)}


async def test_migrate_sets_the_policies_of_a_fresh_namespace(
    processor_settings: ProcessorSettings,
) -> None:
    settings = processor_settings.model_copy(
        update={"rabbitmq_api_url": os.environ.get("TEST_RABBITMQ_API_URL")}
    )
    assert await _ours(settings) == {}
    assert await migrate.main(ARGS, settings) == 0
    first = await _ours(settings)
    topology = settings.topology
    queue = topology.consumer_queue("seller.order_created")
    assert first[queue]["definition"]["delivery-limit"] == DELIVERY_LIMIT  # type: ignore[index]
    assert first[queue]["pattern"] == f"^{queue.replace('.', chr(92) + '.')}$"
    dead = topology.dead_letter_queue("seller.order_created")
    assert first[dead]["definition"] == {"delivery-limit": UNBOUNDED_DELIVERIES}
    assert first[topology.unrouted]["apply-to"] == "queues"
    # Twice: the same policies, none added
    assert await migrate.main(ARGS, settings) == 0
    assert await _ours(settings) == first


async def test_an_unreachable_management_api_is_one_warning_saying_what_to_run(
    processor_settings: ProcessorSettings,
) -> None:
    settings = processor_settings.model_copy(update={"rabbitmq_api_url": "http://127.0.0.1:9/api"})
    with capture_logs() as logs:
        assert await migrate.main(ARGS, settings) == 0
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == ["migrate.policies_not_set"]
    assert "127.0.0.1:9" in warnings[0]["reason"]
    assert "rabbitmqctl import_definitions" in warnings[0]["fix"]
    assert "guest" not in str(warnings[0])
    done = next(entry for entry in logs if entry["event"] == "migrate.done")
    assert done["policies"] == 0
