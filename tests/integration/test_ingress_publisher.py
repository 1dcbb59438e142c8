"""The ingress publishes to the webhooks exchange by its name, whatever else it declares."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
import pytest

from contracts import Recipient, WebhookEnvelope
from contracts.brokers import Brokers
from contracts.topology import ExchangeSpec, Topology
from ingress.publisher import Publisher
from tests.conftest import Services
from tests.integration.conftest import eventually, queue_depth

pytestmark = pytest.mark.integration


class WebhooksFirst(Topology):
    """The same exchanges, declared in the other order: the unrouted one last."""

    def ingress_exchanges(self) -> list[ExchangeSpec]:
        return list(reversed(super().ingress_exchanges()))


async def _ready(publisher: Publisher) -> bool:
    return publisher.ready


async def test_a_webhook_goes_to_the_webhooks_exchange_not_the_last_one_declared(
    services: Services, namespace: str, amqp: aio_pika.abc.AbstractChannel
) -> None:
    topology = WebhooksFirst(namespace)
    envelope = WebhookEnvelope(
        recipient=Recipient.SELLER, event_type="order_created", body=b"{}", order_group_id=1
    )
    publisher = Publisher(Brokers.parse(services.amqp_url), topology, confirm_timeout=5)
    publisher.start()
    try:
        await eventually(lambda: _ready(publisher))
        bound = await amqp.declare_queue(f"{namespace}.seller.order_created", durable=True)
        await bound.bind(topology.webhooks_exchange, envelope.routing_key)
        await publisher.publish(envelope, datetime.now(UTC))
        await eventually(lambda: queue_depth(amqp, bound.name))
        assert await queue_depth(amqp, topology.unrouted) == 0
    finally:
        await publisher.close()
