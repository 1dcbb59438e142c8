"""The broker topology of the registered consumers: the one list of queues, and declaring it.

Declaring is idempotent; `migrate`, the processor at start and the operator commands all do it,
and `processor.ops.definitions` generates the broker's definitions from the same list.
"""

from __future__ import annotations

from collections.abc import Sequence

from aio_pika.abc import AbstractChannel, AbstractQueue

from contracts.topology import QueueSpec, Topology
from processor.handler import Consumer


def all_queues(
    topology: Topology, consumers: Sequence[Consumer], retry_delays: tuple[int, ...]
) -> list[QueueSpec]:
    """Every queue the ingress and the processor declare, in declaration order."""
    queues = [topology.unrouted_queue(), *topology.delay_queues(retry_delays)]
    for consumer in consumers:
        queues += topology.consumer_queues(consumer.name, consumer.routing_keys)
    return queues


async def declare(
    channel: AbstractChannel,
    topology: Topology,
    consumers: Sequence[Consumer],
    retry_delays: tuple[int, ...],
) -> dict[str, AbstractQueue]:
    """Declare exchanges and queues; return each consumer's queue by consumer name."""
    for exchange in topology.processor_exchanges():
        await channel.declare_exchange(
            exchange.name, exchange.type, durable=True, arguments=exchange.arguments
        )
    declared = {}
    for spec in all_queues(topology, consumers, retry_delays):
        declared[spec.name] = await _declare_queue(channel, spec)
    return {c.name: declared[topology.consumer_queue(c.name)] for c in consumers}


async def _declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    for exchange, key, arguments in spec.bindings:
        await queue.bind(exchange, key, arguments=arguments or None)
    return queue
