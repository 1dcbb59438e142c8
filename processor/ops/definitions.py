"""RabbitMQ definitions (exchanges, queues, bindings, policies) of what the services declare.

Generated from `contracts.topology` and the consumer registry, the same source the ingress and
the processor declare from, so a broker that imported them at boot accepts every declaration the
services then make (RabbitMQ refuses a redeclaration whose arguments differ).

Policies restate the queue arguments, one policy per queue that has any, so the console shows a
queue's limits on its Policy column and an operator can tighten them live. For quorum queues
RabbitMQ resolves a key set both ways like this: `delivery-limit`, `max-length` and
`message-ttl` take the lower value; `dead-letter-exchange`, `dead-letter-routing-key` and
`dead-letter-strategy` take the queue argument; `overflow` takes the policy. With equal values
none of that matters, and `tests/unit/processor/ops/test_generated.py` keeps them equal.

A queue declared without a delivery limit (dead letters, unrouted, delays) gets one in its policy
all the same, `UNBOUNDED_DELIVERIES`: RabbitMQ 4 gives every quorum queue a default limit of 20,
and `dead-letters list` and `unrouted list` read by taking messages and requeueing them, which
counts as a delivery. Without the policy the 21st look would drop a dead letter, for good.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.topology import ExchangeSpec, QueueSpec, Topology
from processor.handler import Consumer
from processor.runtime.topology import all_queues

# Queue arguments that have a policy key of the same name without `x-`.
POLICY_KEYS = (
    "x-delivery-limit",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-overflow",
    "x-max-length",
    "x-message-ttl",
)
# Above the default 0 of an operator's catch-all policy: only one policy applies to a queue.
POLICY_PRIORITY = 10
# A limit no operator's reading reaches; RabbitMQ 3.x refuses -1, 4's way of saying "none".
UNBOUNDED_DELIVERIES = 1_000_000


@dataclass(frozen=True)
class PolicySpec:
    name: str
    pattern: str
    definition: dict[str, Any]
    apply_to: str = "queues"
    priority: int = POLICY_PRIORITY


def policies(queues: Sequence[QueueSpec]) -> list[PolicySpec]:
    """One policy per queue, matching that queue's name exactly: its arguments, and a limit."""
    found = []
    for queue in queues:
        definition = {
            k.removeprefix("x-"): v for k, v in queue.arguments.items() if k in POLICY_KEYS
        }
        definition.setdefault("delivery-limit", UNBOUNDED_DELIVERIES)
        found.append(PolicySpec(queue.name, f"^{re.escape(queue.name)}$", definition))
    return found


def definitions(
    topology: Topology,
    consumers: Sequence[Consumer],
    retry_delays: tuple[int, ...],
    vhost: str = "/",
) -> dict[str, Any]:
    """The definitions document RabbitMQ imports at boot or through `POST /api/definitions`."""
    queues = all_queues(topology, consumers, retry_delays)
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [_exchange_entry(spec, vhost) for spec in topology.processor_exchanges()],
        "queues": [
            {
                "name": q.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": q.arguments,
            }
            for q in queues
        ],
        "bindings": [
            {
                "source": exchange,
                "vhost": vhost,
                "destination": queue.name,
                "destination_type": "queue",
                "routing_key": key,
                "arguments": arguments,
            }
            for queue in queues
            for exchange, key, arguments in queue.bindings
        ],
        "policies": [_policy_entry(policy, vhost) for policy in policies(queues)],
    }


def _exchange_entry(spec: ExchangeSpec, vhost: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "vhost": vhost,
        "type": spec.type,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": spec.arguments,
    }


def _policy_entry(policy: PolicySpec, vhost: str) -> dict[str, Any]:
    return {
        "vhost": vhost,
        "name": policy.name,
        "pattern": policy.pattern,
        "apply-to": policy.apply_to,
        "definition": policy.definition,
        "priority": policy.priority,
    }


def topology_operator_policies(
    queues: Sequence[QueueSpec], cluster: str, vhost: str = "/"
) -> list[dict[str, Any]]:
    """The same policies as `Policy` resources of RabbitMQ's Messaging Topology Operator."""
    return [
        {
            "apiVersion": "rabbitmq.com/v1beta1",
            "kind": "Policy",
            "metadata": {"name": re.sub(r"[^a-z0-9-]", "-", policy.name.lower())},
            "spec": {
                "name": policy.name,
                "vhost": vhost,
                "pattern": policy.pattern,
                "applyTo": policy.apply_to,
                "priority": policy.priority,
                "definition": policy.definition,
                "rabbitmqClusterReference": {"name": cluster},
            },
        }
        for policy in policies(queues)
    ]
