"""The committed broker definitions, k8s policies and AsyncAPI document match the code.

A consumer added to the registry without `python -m processor generate` fails here.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from contracts import DOCUMENTED_ROUTING_KEYS, Order, Topology
from contracts.topology import QueueSpec
from processor.commands import generate
from processor.handler import Consumer
from processor.ops.asyncapi import message_for
from processor.ops.definitions import UNBOUNDED_DELIVERIES
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings

ROOT = Path(__file__).resolve().parents[4]
SCHEMAS = ROOT / "tests" / "schemas"
DEFAULT_DELAYS: tuple[int, ...] = ProcessorSettings.model_fields["retry_delays"].default


@pytest.fixture
def settings() -> ProcessorSettings:
    # Explicit values: a TEVO_* variable in the environment must not change the expectation.
    return ProcessorSettings(
        namespace="tevo", amqp_url="amqp://guest:guest@rabbitmq:5672/", retry_delays=DEFAULT_DELAYS
    )


@pytest.fixture
def definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    return loaded


def expected_queues() -> list[QueueSpec]:
    topology = Topology("tevo")
    queues = [topology.unrouted_queue(), *topology.delay_queues(DEFAULT_DELAYS)]
    for consumer in CONSUMERS:
        queues += topology.consumer_queues(consumer.name, consumer.routing_keys)
    return queues


@pytest.mark.parametrize("path", sorted(generate.artefacts(ProcessorSettings(namespace="tevo"))))
def test_committed_artefact_is_up_to_date(settings: ProcessorSettings, path: str) -> None:
    committed = (ROOT / path).read_text(encoding="utf-8")
    assert committed == generate.artefacts(settings)[path], "run `python -m processor generate`"


def test_definitions_declare_every_queue_as_the_services_do(definitions: dict[str, Any]) -> None:
    declared = {q["name"]: q for q in definitions["queues"]}
    expected = expected_queues()
    assert set(declared) == {q.name for q in expected}
    for spec in expected:
        assert declared[spec.name]["arguments"] == spec.arguments, spec.name
        assert declared[spec.name]["durable"] is True


def test_definitions_bind_every_routing_key_of_every_consumer(
    definitions: dict[str, Any],
) -> None:
    topology = Topology("tevo")
    bound = {(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    for consumer in CONSUMERS:
        queue = topology.consumer_queue(consumer.name)
        for key in consumer.routing_keys:
            assert (topology.webhooks_exchange, queue, key) in bound
        assert (topology.retry_exchange, queue, "") in bound
    assert (topology.unrouted, topology.unrouted, "") in bound


def test_definitions_exchanges_match_what_the_processor_declares(
    definitions: dict[str, Any],
) -> None:
    exchanges = {e["name"]: (e["type"], e["arguments"]) for e in definitions["exchanges"]}
    expected = Topology("tevo").processor_exchanges()
    assert exchanges == {e.name: (e.type, e.arguments) for e in expected}


def test_each_policy_matches_one_queue_and_agrees_with_its_arguments(
    definitions: dict[str, Any],
) -> None:
    queues = {q["name"]: q["arguments"] for q in definitions["queues"]}
    governed: list[str] = []
    for policy in definitions["policies"]:
        matched = [name for name in queues if re.search(policy["pattern"], name)]
        assert len(matched) == 1, (policy["name"], matched)
        arguments = queues[matched[0]]
        for key, value in policy["definition"].items():
            if f"x-{key}" not in arguments and key == "delivery-limit":
                continue  # the policy-only limit, checked below
            # Equal values: whichever side RabbitMQ prefers for a key, the outcome is the same.
            assert arguments[f"x-{key}"] == value, (policy["name"], key)
        governed += matched
    assert len(governed) == len(set(governed)), "two policies on one queue: only one applies"
    assert set(governed) == set(queues)
    assert "tevo.unrouted" in governed


def test_no_queue_keeps_rabbitmq_4s_default_delivery_limit(definitions: dict[str, Any]) -> None:
    # Reading dead letters and unrouted webhooks requeues them, and each read is a delivery:
    # RabbitMQ 4's default limit of 20 would drop them after 20 looks.
    queues = {q["name"]: q["arguments"] for q in definitions["queues"]}
    limits = {p["pattern"]: p["definition"]["delivery-limit"] for p in definitions["policies"]}
    for name, arguments in queues.items():
        limit = limits[f"^{re.escape(name)}$"]
        if "x-delivery-limit" in arguments:
            assert limit == arguments["x-delivery-limit"], name
        else:
            assert limit == UNBOUNDED_DELIVERIES, name
    dead = Topology("tevo").dead_letter_queue(CONSUMERS[0].name)
    assert limits[f"^{re.escape(dead)}$"] > 10_000


def test_kubernetes_policies_restate_the_definitions(definitions: dict[str, Any]) -> None:
    text = (ROOT / "deploy/k8s/base/rabbitmq/policies.yaml").read_text()
    resources = [doc for doc in yaml.safe_load_all(text) if doc]
    as_k8s = {r["spec"]["name"]: (r["spec"]["pattern"], r["spec"]["definition"]) for r in resources}
    assert as_k8s == {p["name"]: (p["pattern"], p["definition"]) for p in definitions["policies"]}
    assert {r["spec"]["rabbitmqClusterReference"]["name"] for r in resources} == {
        generate.RABBITMQ_CLUSTER
    }


def test_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = json.loads((SCHEMAS / "asyncapi-3.0.0.json").read_text())
    document = json.loads((ROOT / "docs/asyncapi.json").read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft7Validator(schema).iter_errors(document)
    ]
    assert errors == []


def test_asyncapi_schema_check_catches_a_broken_document() -> None:
    schema = json.loads((SCHEMAS / "asyncapi-3.0.0.json").read_text())
    document = json.loads((ROOT / "docs/asyncapi.json").read_text())
    document["operations"]["publishWebhook"]["action"] = "publish"  # AsyncAPI 2 wording
    assert not Draft7Validator(schema).is_valid(document)


def test_asyncapi_names_every_consumer_and_the_order_contract() -> None:
    document = json.loads((ROOT / "docs/asyncapi.json").read_text())
    topology = Topology("tevo")
    for consumer in CONSUMERS:
        queue = topology.consumer_queue(consumer.name)
        assert document["channels"][queue]["address"] == queue
        assert document["operations"][f"{queue}.receive"]["action"] == "receive"
    order = document["components"]["schemas"]["Order"]
    assert set(order["properties"]) == set(Order.model_fields)
    exchange = document["channels"]["webhooks"]["bindings"]["amqp"]["exchange"]
    assert exchange["name"] == topology.webhooks_exchange


@pytest.mark.parametrize("key", sorted(DOCUMENTED_ROUTING_KEYS))
def test_every_documented_routing_key_has_a_message(key: str) -> None:
    document = json.loads((ROOT / "docs/asyncapi.json").read_text())
    assert message_for(key) in document["components"]["messages"]


async def test_check_fails_when_a_consumer_is_missing_from_the_artefacts(
    settings: ProcessorSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = argparse.Namespace(check=False, root=tmp_path)
    assert await generate.main(args, settings) == 0
    check = argparse.Namespace(check=True, root=tmp_path)
    assert await generate.main(check, settings) == 0
    newcomer = Consumer("buyer.order_accepted", ("buyer.order_accepted",), CONSUMERS[0].handle)
    monkeypatch.setattr(generate, "CONSUMERS", (*CONSUMERS, newcomer))
    assert await generate.main(check, settings) == 1
