"""Publish webhooks to RabbitMQ and wait for the broker's confirm; anything less is an error."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from datetime import datetime

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError
from pamqp.commands import Basic

from contracts import Topology, WebhookEnvelope
from contracts.brokers import Brokers, first_answering, node_of
from ingress.confirms import Confirmation, ConfirmWriter

log = structlog.get_logger(__name__)

RECONNECT_DELAY = 2.0  # after every node of the list refused
RENEW_AFTER_NACK = 2.0  # seconds a connection is kept before a nack replaces it
CONNECT_TIMEOUT = 5.0  # seconds one node may take to open a connection before the next is tried
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


def _unavailable(url: str, exc: BaseException) -> None:
    log.warning("broker.node_unavailable", node=node_of(url), error=type(exc).__name__)


class BrokerUnavailable(Exception):
    """RabbitMQ did not confirm the event in time: the client should retry (503)."""


class Publisher:
    """One connection and one confirming channel to a node; on its loss, another node's."""

    def __init__(
        self, brokers: Brokers, topology: Topology, *, confirm_timeout: float, linger: float = 0.005
    ) -> None:
        self._brokers = brokers
        self._topology = topology
        self._confirm_timeout = confirm_timeout
        self._linger = linger
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._writer: ConfirmWriter | None = None
        self._node: str | None = None  # the URL of the node connected to, or lost last
        self._connected_at = 0.0  # time.monotonic() of the last connect
        self._connecting: asyncio.Task[None] | None = None
        self._closing = False
        self._unconfirmed = False  # the last publish got no confirm

    def start(self) -> None:
        """Connect in the background: while no node answers the ingress answers 503."""
        self._connecting = asyncio.create_task(self._connect_until_up(), name="ingress-connect")

    async def _connect_until_up(self, lost: AbstractConnection | None = None) -> None:
        if lost is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await lost.close()  # its channel may have closed alone: free the connection
        while True:
            try:
                # The node lost last comes last: a dead node refuses, or hangs until a timeout.
                urls = self._brokers.rotation(self._node)
                await first_answering(urls, self._connect, CONNECTION_EXCEPTIONS, _unavailable)
            except CONNECTION_EXCEPTIONS as exc:
                if self._closing:
                    # `close` cancelled a connect in flight, and aiormq turned the cancellation
                    # into a connection error: without this, the loop went on and a SIGTERM
                    # during the first connect left the ingress running until its SIGKILL.
                    return
                log.warning(
                    "broker.connect_failed", error=type(exc).__name__, retry_in=RECONNECT_DELAY
                )
                await asyncio.sleep(RECONNECT_DELAY)
            else:
                return

    async def _connect(self, url: str) -> None:
        # A plain connection, not aio-pika's robust one: that one would reconnect only to its
        # own node, and wait there while the other nodes of a cluster could take the webhooks.
        connection = await aio_pika.connect(
            url,
            client_properties={"connection_name": f"ingress@{socket.gethostname()}"},
            timeout=CONNECT_TIMEOUT,
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
            writer = ConfirmWriter(await channel.get_underlay_channel(), linger=self._linger)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel, self._writer = connection, channel, writer
        self._node, self._connected_at = url, time.monotonic()
        for closing in (connection.close_callbacks, channel.close_callbacks):
            closing.add(lambda *_: self._lost(connection))
        log.info("broker.connected", exchange=self._topology.webhooks_exchange, node=node_of(url))

    def _nacked(self) -> None:
        """RabbitMQ refused a publish: start again on a new connection, at most every few seconds.

        A queue at its length limit nacks until it drains, and a new connection changes nothing
        there. But on RabbitMQ 3.10 a channel whose first publish to a quorum queue finds that
        queue's leader dead is nacked for good, while a new channel's publishes are confirmed
        once a new leader is elected (tests/cluster hit it).
        """
        connection = self._connection
        if connection is None or time.monotonic() - self._connected_at < RENEW_AFTER_NACK:
            return
        log.warning("broker.nacked", node=node_of(self._node or ""), action="reconnect")
        self._lost(connection)

    def _lost(self, connection: AbstractConnection) -> None:
        """The connection or its channel closed: connect again, to another node first."""
        if self._closing or connection is not self._connection:
            return  # our own close, or the other half of a loss already handled
        self._connection = self._channel = self._writer = None
        log.warning("broker.lost", node=node_of(self._node or ""))
        self._connecting = asyncio.create_task(
            self._connect_until_up(connection), name="ingress-reconnect"
        )

    @property
    def ready(self) -> bool:
        """Connected to a node, with the confirming channel open."""
        connection, channel = self._connection, self._channel
        return (
            connection is not None
            and channel is not None
            and not connection.is_closed
            and not channel.is_closed
        )

    async def publish(self, envelope: WebhookEnvelope, received_at: datetime) -> None:
        """Return once RabbitMQ confirmed the message; raise `BrokerUnavailable` otherwise.

        A publish that timed out may still have reached the broker: TEvo's retry then carries the
        same `message_id`, and the processor's inbox makes the second copy a no-op.
        """
        writer = self._writer
        if writer is None or not self.ready:
            raise BrokerUnavailable("not connected to RabbitMQ")
        confirmation = writer.publish(
            envelope.body,
            exchange=self._topology.webhooks_exchange,
            routing_key=envelope.routing_key,
            properties=message_properties(envelope, received_at),
            mandatory=True,
        )
        failure = await self._confirmed(confirmation)
        self._unconfirmed = failure is not None
        if failure is not None:
            raise BrokerUnavailable(failure)

    async def _confirmed(self, confirmation: Confirmation) -> str | None:
        """None once the broker acked; else why not (nack, return, timeout, channel closed)."""
        # Waited on, not awaited: the future carries the channel's close reason, whatever its
        # type, and this task's own cancellation must stay apart from it.
        await asyncio.wait((confirmation,), timeout=self._confirm_timeout)
        if not confirmation.done():
            confirmation.cancel()  # a late answer is then dropped by aiormq's reader
            return "no confirm from RabbitMQ in time"
        if confirmation.cancelled():
            return "publish cancelled: the channel closed"
        error = confirmation.exception()
        if error is None:
            return None
        if isinstance(error, DeliveryError) and isinstance(error.frame, Basic.Nack):
            self._nacked()
        return f"publish refused: {type(error).__name__}"

    async def check(self) -> bool:
        """Ready, and getting confirms: after a publish went unconfirmed, a probe must get one.

        A connection can be up and still confirm nothing: RabbitMQ blocks publishers during a
        memory or disk alarm. The probe goes to the default exchange under a key no queue has,
        so the broker confirms it and drops it.
        """
        writer = self._writer
        if writer is None or not self.ready:
            return False
        if not self._unconfirmed:
            return True
        probe = writer.publish(
            b"",
            exchange="",
            routing_key=PROBE_ROUTING_KEY,
            properties=Basic.Properties(app_id="ingress-readiness-probe", delivery_mode=1),
            mandatory=False,
        )
        if await self._confirmed(probe) is not None:
            return False
        self._unconfirmed = False
        return True

    async def close(self) -> None:
        self._closing = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._connection is not None:
            await self._connection.close()
