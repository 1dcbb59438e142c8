"""Publish webhooks to RabbitMQ and wait for the broker's confirm; anything less is an error."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import datetime

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pamqp.commands import Basic

from contracts import Topology, WebhookEnvelope

log = structlog.get_logger("ingress.publisher")

RECONNECT_DELAY = 2.0
PROBE_ROUTING_KEY = "tevo.ingress.readiness-probe"
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


def message_properties(envelope: WebhookEnvelope, received_at: datetime) -> Basic.Properties:
    """What `aio_pika.Message` would send for the envelope, field for field (priority 0 too)."""
    return Basic.Properties(
        message_id=envelope.message_id,
        content_type="application/json",
        delivery_mode=PERSISTENT,
        headers=envelope.headers(received_at),
        timestamp=received_at,
        app_id="ingress",
        priority=0,
    )


class BrokerUnavailable(Exception):
    """RabbitMQ did not confirm the event in time: the client should retry (503)."""


class Publisher:
    """One robust connection and one confirming channel; reconnects after a broker restart."""

    def __init__(self, amqp_url: str, topology: Topology, *, confirm_timeout: float) -> None:
        self._url = amqp_url
        self._topology = topology
        self._confirm_timeout = confirm_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._unconfirmed = False  # the last publish got no confirm

    def start(self) -> None:
        """Connect in the background: while the broker is away the ingress answers 503."""
        self._connecting = asyncio.create_task(self._connect_until_up(), name="ingress-connect")

    async def _connect_until_up(self) -> None:
        while True:
            try:
                await self._connect()
            except CONNECTION_EXCEPTIONS as exc:
                log.warning(
                    "broker.connect_failed", error=type(exc).__name__, retry_in=RECONNECT_DELAY
                )
                await asyncio.sleep(RECONNECT_DELAY)
            else:
                return

    async def _connect(self) -> None:
        connection = await aio_pika.connect_robust(
            self._url,
            client_properties={"connection_name": f"ingress@{socket.gethostname()}"},
            reconnect_interval=RECONNECT_DELAY,
        )
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            for spec in self._topology.ingress_exchanges():
                await channel.declare_exchange(
                    spec.name, spec.type, durable=True, arguments=spec.arguments
                )
            unrouted = self._topology.unrouted_queue()
            queue = await channel.declare_queue(
                unrouted.name, durable=True, arguments=unrouted.arguments
            )
            await queue.bind(self._topology.unrouted)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel = connection, channel
        log.info("broker.connected", exchange=self._topology.webhooks_exchange)

    @property
    def ready(self) -> bool:
        """Connected, and the channel reopened: the connection comes back before its channel."""
        connection, channel = self._connection, self._channel
        return (
            connection is not None
            and channel is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and not channel.is_closed
        )

    async def publish(self, envelope: WebhookEnvelope, received_at: datetime) -> None:
        """Return once RabbitMQ confirmed the message; raise `BrokerUnavailable` otherwise.

        A publish that timed out may still have reached the broker: TEvo's retry then carries the
        same `message_id`, and the processor's inbox makes the second copy a no-op.
        """
        channel = self._channel
        if channel is None or not self.ready:
            raise BrokerUnavailable("not connected to RabbitMQ")
        try:
            async with asyncio.timeout(self._confirm_timeout):
                # aiormq's publish on aio-pika's channel, without aio-pika's Message and
                # Exchange layers (a tenth of the ingress's time per webhook at full load): the
                # same frames, the same confirm, a Basic.Return still raised (on_return_raises).
                underlay = await channel.get_underlay_channel()
                await underlay.basic_publish(
                    envelope.body,
                    exchange=self._topology.webhooks_exchange,
                    routing_key=envelope.routing_key,
                    properties=message_properties(envelope, received_at),
                    mandatory=True,
                )
        except TimeoutError:
            self._unconfirmed = True
            raise BrokerUnavailable("no confirm from RabbitMQ in time") from None
        except CONNECTION_EXCEPTIONS as exc:
            self._unconfirmed = True
            raise BrokerUnavailable(f"publish failed: {type(exc).__name__}") from exc
        self._unconfirmed = False

    async def check(self) -> bool:
        """Ready, and getting confirms: after a publish went unconfirmed, a probe must get one.

        A connection can be up and still confirm nothing: RabbitMQ blocks publishers during a
        memory or disk alarm. The probe goes to the default exchange under a key no queue has,
        so the broker confirms it and drops it.
        """
        channel = self._channel
        if channel is None or not self.ready:
            return False
        if not self._unconfirmed:
            return True
        probe = aio_pika.Message(b"", app_id="ingress-readiness-probe")
        try:
            async with asyncio.timeout(self._confirm_timeout):
                await channel.default_exchange.publish(probe, PROBE_ROUTING_KEY, mandatory=False)
        except (TimeoutError, *CONNECTION_EXCEPTIONS):
            return False
        self._unconfirmed = False
        return True

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._connection is not None:
            await self._connection.close()
