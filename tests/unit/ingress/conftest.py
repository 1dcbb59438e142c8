"""The ingress app without RabbitMQ: a fake publisher at `create_app`'s seam, a real HTTP server.

The server is aiohttp's test server on loopback, built with the same `server_options` as
`python -m ingress`, so limits, timeouts and the access log are the production ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from contracts import WebhookEnvelope
from ingress.app import create_app
from ingress.serve import server_options
from ingress.settings import IngressSettings

TOKEN = "unit-7fQ2xZ9pL4mW8rT1vB6nK3sD"
OLD_TOKEN = "old-Hq3Vt8Zk2Rn6Yw4Lp9Xc5Mb1"

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@dataclass
class FakePublisher:
    """Records every publish; the app drives it as it drives `Publisher`."""

    published: list[WebhookEnvelope] = field(default_factory=list)
    started: bool = False
    closed: bool = False

    def start(self) -> None:
        self.started = True

    @property
    def ready(self) -> bool:
        return self.started and not self.closed

    async def check(self) -> bool:
        return self.ready

    async def publish(self, envelope: WebhookEnvelope, received_at: datetime) -> None:  # noqa: ARG002 - the seam's signature; the time is not what these tests check
        self.published.append(envelope)

    async def close(self) -> None:
        self.closed = True


def make_settings(**overrides: Any) -> IngressSettings:
    values: dict[str, Any] = {
        "namespace": "unit",
        "webhook_tokens": (TOKEN,),
        "amqp_url": "amqp://guest:guest@127.0.0.1:1/",  # never dialled: the publisher is fake
    }
    values.update(overrides)
    return IngressSettings(**values)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def make_client(publisher: FakePublisher) -> AsyncIterator[MakeClient]:
    """Start the app with settings overridden by keyword; every client closes with the test."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Client:
            settings = make_settings(**overrides)
            app = create_app(settings, publisher=publisher)
            server = TestServer(app)
            # TestServer ignores server options given to its constructor; these reach the server.
            await server.start_server(**server_options(settings))
            return await stack.enter_async_context(TestClient(server))

        yield make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def raw_exchange(client: Client, request: bytes, *, within: float = 5.0) -> bytes:
    """Send bytes as they are; return the first response, head and body, read within `within`."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(within):
            return await read_response(reader)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


WEBHOOK_URL = f"/webhooks/tevo/{TOKEN}"
FORM_TYPE = "application/x-www-form-urlencoded"


def webhook_head(*lines: str, url: str = WEBHOOK_URL) -> bytes:
    """A POST's head with our form type, plus `lines`, ready for `raw_exchange`."""
    fixed = [f"POST {url} HTTP/1.1", "Host: ingress", f"Content-Type: {FORM_TYPE}"]
    return ("\r\n".join([*fixed, *lines]) + "\r\n\r\n").encode()


def assert_refusal(got: int, body: bytes, status: int) -> dict[str, Any]:
    """The answer is `status` with our JSON error, and does not quote the token."""
    assert got == status, body
    payload: dict[str, Any] = json.loads(body)
    assert set(payload) == {"error", "field", "detail"}
    assert TOKEN not in body.decode()
    return payload
