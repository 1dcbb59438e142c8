"""More webhooks in progress than `max_in_flight`: the rest get 503 at once, and nothing queues."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp.test_utils import TestClient, TestServer

from contracts import WebhookEnvelope
from ingress.app import create_app
from ingress.serve import server_options
from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import (
    WEBHOOK_URL,
    FakePublisher,
    make_settings,
    read_response,
    webhook_head,
)


@dataclass
class StalledPublisher(FakePublisher):
    """Holds every publish until `release` is set, like a broker slow to confirm."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(self, envelope: WebhookEnvelope, received_at: datetime) -> None:
        self.entered.set()
        await self.release.wait()
        await super().publish(envelope, received_at)


async def test_past_the_limit_a_webhook_gets_503_and_is_not_published() -> None:
    publisher = StalledPublisher()
    settings = make_settings(max_in_flight=1)
    server = TestServer(create_app(settings, publisher=publisher))
    await server.start_server(**server_options(settings))
    async with TestClient(server) as client:
        first = asyncio.create_task(
            client.post(WEBHOOK_URL, data=form(order(id=1)), headers=FORM_HEADERS)
        )
        await asyncio.wait_for(publisher.entered.wait(), timeout=10)
        second = await client.post(WEBHOOK_URL, data=form(order(id=2)), headers=FORM_HEADERS)
        assert second.status == 503
        assert second.headers["Retry-After"]
        assert (await second.json())["error"] == "overloaded"
        publisher.release.set()
        assert (await asyncio.wait_for(first, timeout=10)).status == 202
        assert len(publisher.published) == 1  # the first; the refused one never was
        third = await client.post(WEBHOOK_URL, data=form(order(id=3)), headers=FORM_HEADERS)
        assert third.status == 202  # the slot is free again
        metrics = await (await client.get("/metrics")).text()
        assert 'status="503"} 1.0' in metrics


async def test_clients_slow_to_send_their_bodies_do_not_take_the_slots() -> None:
    """A token holder trickling bodies must not fill `max_in_flight`: others still get 202."""
    publisher = FakePublisher()
    settings = make_settings(max_in_flight=2, body_timeout=30)
    server = TestServer(create_app(settings, publisher=publisher))
    await server.start_server(**server_options(settings))
    async with TestClient(server) as client:
        body = form(order(id=1)).encode()
        slow = []
        for _ in range(5):  # more slow clients than slots
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(webhook_head(f"Content-Length: {len(body)}", "Expect: 100-continue"))
            await writer.drain()
            # "100 Continue": its handler runs and now waits for the body, which trickles
            continued = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert continued.startswith(b"HTTP/1.1 100 ")
            writer.write(body[:10])
            await writer.drain()
            slow.append((reader, writer))
        try:
            answers = [
                await client.post(WEBHOOK_URL, data=form(order(id=n)), headers=FORM_HEADERS)
                for n in (2, 3, 4)
            ]
            assert [answer.status for answer in answers] == [202, 202, 202]
            for reader, writer in slow:  # the slow ones finish, and are taken too
                writer.write(body[10:])
                await writer.drain()
                assert (await asyncio.wait_for(read_response(reader), 10)).startswith(
                    b"HTTP/1.1 202 "
                )
        finally:
            for _, writer in slow:
                writer.close()
        assert len(publisher.published) == 8
