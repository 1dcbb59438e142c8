"""The body as it arrives: chunked, slow, cut off, broken, and `Expect: 100-continue`."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from structlog.testing import capture_logs
from structlog.typing import EventDict

from ingress.app import create_app
from ingress.serve import server_options
from tests.payloads import form, order
from tests.unit.ingress.conftest import (
    TOKEN,
    WEBHOOK_URL,
    Client,
    FakePublisher,
    MakeClient,
    assert_refusal,
    make_settings,
    raw_exchange,
    read_response,
    webhook_head,
)


async def test_a_chunked_body_is_cut_off_past_the_limit(
    make_client: MakeClient, publisher: FakePublisher
) -> None:
    client = await make_client(max_body_bytes=4096)
    chunk = b"x" * 1000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6)) + b"0\r\n\r\n"
    answer = await raw_exchange(client, webhook_head("Transfer-Encoding: chunked") + chunks)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"at most 4096 bytes" in answer
    assert publisher.published == []


async def test_a_chunked_body_within_the_limit_is_accepted(
    client: Client, publisher: FakePublisher
) -> None:
    body = form(order()).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:100], body[100:]))
    answer = await raw_exchange(
        client, webhook_head("Transfer-Encoding: chunked") + chunked + b"0\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert len(publisher.published) == 1


async def test_broken_chunked_framing_mid_body_is_408(
    make_client: MakeClient, publisher: FakePublisher
) -> None:
    client = await make_client(body_timeout=0.3)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        # The body is sent only after "100 Continue", so the handler is already reading it when
        # the framing breaks: aiohttp's parser stops feeding it, and the body timeout ends it.
        writer.write(webhook_head("Transfer-Encoding: chunked", "Expect: 100-continue"))
        async with asyncio.timeout(5):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"5\r\nevent\r\nzz\r\n")
            answer = await read_response(reader)
    finally:
        writer.close()
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408 ")
    assert_refusal(408, body, 408)
    assert publisher.published == []


async def test_malformed_http_is_answered_by_the_server_without_the_token(
    client: Client, publisher: FakePublisher
) -> None:
    answer = await raw_exchange(
        client, webhook_head("Transfer-Encoding: chunked") + b"zz\r\nab\r\n"
    )
    assert answer.startswith(b"HTTP/1.0 400 ")
    assert TOKEN.encode() not in answer
    assert publisher.published == []


async def test_a_slow_body_is_408(make_client: MakeClient, publisher: FakePublisher) -> None:
    client = await make_client(body_timeout=0.3)
    started = asyncio.get_running_loop().time()
    # 11 of the 100 announced bytes, then nothing
    answer = await raw_exchange(client, webhook_head("Content-Length: 100") + b"event_type=")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in answer
    assert asyncio.get_running_loop().time() - started >= 0.3
    assert publisher.published == []


async def test_a_client_that_trickles_its_head_is_disconnected(make_client: MakeClient) -> None:
    client = await make_client(idle_timeout=0.3)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(f"POST {WEBHOOK_URL} HTTP/1.1\r\nHost: ingress\r\n".encode())  # never ends
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed, no answer
    finally:
        writer.close()


async def test_expect_continue_refuses_a_bad_token_before_the_body(client: Client) -> None:
    head = webhook_head("Content-Length: 10", "Expect: 100-continue", url="/webhooks/tevo/wrong")
    answer = await raw_exchange(client, head)
    assert answer.startswith(b"HTTP/1.1 401 ")


async def test_expect_continue_refuses_an_oversize_body_before_it_is_sent(client: Client) -> None:
    head = webhook_head(f"Content-Length: {2 * 1024 * 1024}", "Expect: 100-continue")
    with capture_logs() as logs:
        answer = await raw_exchange(client, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    access = [e for e in logs if e["event"] == "http.request"]
    assert [(e["route"], e["status"]) for e in access] == [("/webhooks/tevo/{token}", 413)]


async def test_expect_continue_invites_a_good_body(
    client: Client, publisher: FakePublisher
) -> None:
    body = form(order()).encode()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(webhook_head(f"Content-Length: {len(body)}", "Expect: 100-continue"))
        async with asyncio.timeout(5):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(body)
            answer = await read_response(reader)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert len(publisher.published) == 1


async def test_an_unknown_expectation_is_417(client: Client) -> None:
    answer = await raw_exchange(client, webhook_head("Content-Length: 10", "Expect: 200-ok"))
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 417 ")
    assert (assert_refusal(417, body, 417))["field"] == "Expect"


async def test_a_client_leaving_mid_body_is_a_refusal_not_an_error(
    publisher: FakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    # As `python -m ingress` runs it: a handler is not cancelled when its client leaves.
    runner = web.AppRunner(create_app(settings, publisher=publisher), **server_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        refused = asyncio.Event()

        def notice(_logger: object, _name: str, event: EventDict) -> EventDict:
            if event["event"] == "webhook.rejected":
                refused.set()
            return event

        with capture_logs(processors=[notice]) as logs:
            _, writer = await asyncio.open_connection(host, port)
            writer.write(webhook_head("Content-Length: 100") + b"event_type=")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(refused.wait(), timeout=5)
    finally:
        await runner.cleanup()
    assert [e["status"] for e in logs if e["event"] == "webhook.rejected"] == [400]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert publisher.published == []
