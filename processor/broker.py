"""Connect the processor to the first node of `TEVO_AMQP_URL` that answers, and fail over.

`connect_once` is a plain connection: the processor's broker sessions use it (their supervisor
reconnects, through the whole list again), and so do the commands that do one piece of work.
`connect_broker` is a robust one (aio-pika's) for the commands that hold a connection for long
(migrate, reconcile): it reconnects and restores its channels by itself, but only to the URL it
started with, so `FailoverConnection` points it at the next node of the list each time its
connection is lost. aio-pika has no list of hosts of its own (mosquito/aio-pika#141), and no
hook on a failed reconnection attempt: if the next node is down too, a robust connection keeps
trying that one.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
import structlog
from aio_pika import RobustConnection
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from contracts.brokers import Brokers, first_answering, node_of
from contracts.settings import ServiceSettings

log = structlog.get_logger(__name__)
C = TypeVar("C", bound=AbstractConnection)

# Seconds between reconnection attempts of a robust connection after the broker went away.
RECONNECT_INTERVAL = 2.0
# Seconds one node may take to open a connection before the next one is tried.
CONNECT_TIMEOUT = 10.0


class FailoverConnection(RobustConnection):
    """A robust connection that, when its node goes away, reconnects to the next node."""

    def __init__(self, url: URL, brokers: Brokers, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._brokers = brokers
        self.reconnect_callbacks.add(self._reconnected)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        if not self._close_called and len(self._brokers.urls) > 1:
            lost = str(self.url)
            self.url = URL(self._brokers.rotation(lost)[0])
            log.warning("broker.failover", lost=node_of(lost), next=node_of(str(self.url)))
        await super()._on_connection_close(closing)

    def _reconnected(self, _connection: object) -> None:
        log.info("broker.reconnected", node=node_of(str(self.url)))


async def connect_broker(
    settings: ServiceSettings, role: str = "processor", *, lost: str | None = None
) -> AbstractRobustConnection:
    """A robust connection to the first node that answers, named `<role>@<host>:<pid>`.

    `lost`: the URL of a node just lost, tried last. Raises the last node's error when none
    answers; the caller decides whether to wait and try again.
    """
    brokers = settings.brokers

    async def connect(url: str, name: str) -> AbstractRobustConnection:
        connection = FailoverConnection(
            URL(url),
            brokers,
            client_properties={"connection_name": name},
            reconnect_interval=RECONNECT_INTERVAL,
        )
        await connection.connect(timeout=CONNECT_TIMEOUT)
        log.info("broker.connected", role=role, node=node_of(url))
        return connection

    return await _first_node(brokers.rotation(lost), role, connect)


async def connect_once(
    settings: ServiceSettings, role: str, *, announce: bool = False
) -> AbstractConnection:
    """A plain connection to the first node that answers; `announce`: log which one."""

    async def connect(url: str, name: str) -> AbstractConnection:
        connection = await aio_pika.connect(
            url, client_properties={"connection_name": name}, timeout=CONNECT_TIMEOUT
        )
        if announce:
            log.info("broker.connected", role=role, node=node_of(url))
        return connection

    return await _first_node(settings.brokers.urls, role, connect)


async def _first_node(
    urls: tuple[str, ...], role: str, connect: Callable[[str, str], Awaitable[C]]
) -> C:
    """The first node's connection. The nodes that fail are logged; the one that answers is
    left to the caller (a command prints its own output, and that is no news to it)."""
    name = f"{role}@{socket.gethostname()}:{os.getpid()}"  # one per process in the console

    def failed(url: str, exc: BaseException) -> None:
        log.warning("broker.node_unavailable", node=node_of(url), error=type(exc).__name__)

    return await first_answering(
        urls, lambda url: connect(url, name), (*CONNECTION_EXCEPTIONS, TimeoutError), failed
    )
