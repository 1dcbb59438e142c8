"""Declare the broker topology of the registered consumers; idempotent, run by migrate and start."""

from __future__ import annotations

from collections.abc import Sequence

from aio_pika.abc import AbstractChannel, AbstractQueue

from contracts.topology import QueueSpec, Topology
from processor.runtime.message import Consumer


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
    await _declare_queue(channel, topology.unrouted_queue())
    for spec in topology.delay_queues(retry_delays):
        await _declare_queue(channel, spec)
    queues: dict[str, AbstractQueue] = {}
    for consumer in consumers:
        for spec in topology.consumer_queues(consumer.name, consumer.routing_keys):
            queues[spec.name] = await _declare_queue(channel, spec)
    return {c.name: queues[topology.consumer_queue(c.name)] for c in consumers}


async def _declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    for exchange, key, arguments in spec.bindings:
        await queue.bind(exchange, key, arguments=arguments or None)
    return queue
