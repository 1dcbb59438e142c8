"""Against a real RabbitMQ: a refused webhook leaves `<ns>.unrouted` as it was, an accepted one
adds exactly one message. No consumer is bound in a test's namespace: every publish parks there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, event, given, settings

from ingress.app import PUBLISHER, create_app
from ingress.serve import server_options
from ingress.settings import IngressSettings
from tests.integration.conftest import TOKEN, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order
from tests.webhook_requests import FuzzRequest, webhook_requests

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
MakeIngress = Callable[..., Awaitable[Client]]
MAX_BODY = 4096
TEVO = "203.0.113.7"  # a documentation address stands in for TEvo's


@pytest.fixture
async def make_ingress(ingress_settings: IngressSettings) -> AsyncIterator[MakeIngress]:
    """The ingress publishing to the real broker, with settings changed by keyword."""
    async with AsyncExitStack() as stack:

        async def make(**changes: Any) -> Client:
            settings = IngressSettings(
                **{**ingress_settings.model_dump(), "max_body_bytes": MAX_BODY, **changes}
            )
            app = create_app(settings)
            server = TestServer(app)
            await server.start_server(**server_options(settings))
            client = await stack.enter_async_context(TestClient(server))

            async def ready() -> bool | None:
                return app[PUBLISHER].ready or None

            await eventually(ready)
            return client

        yield make


async def _depth_becomes(amqp: aio_pika.abc.AbstractChannel, queue: str, count: int) -> None:
    async def reached() -> bool | None:
        return await queue_depth(amqp, queue) == count or None

    await eventually(reached)


async def test_refusals_publish_nothing_and_a_good_webhook_one_message(
    make_ingress: MakeIngress,
    ingress_settings: IngressSettings,
    amqp: aio_pika.abc.AbstractChannel,
) -> None:
    client = await make_ingress(allowed_networks=f"{TEVO}/32", trusted_proxies="127.0.0.1/32")
    url = f"/webhooks/tevo/{TOKEN}"
    good = form(order(), event_type="nobody_consumes_this")
    via_proxy = {**FORM_HEADERS, "X-Forwarded-For": TEVO}
    refusals = [
        (401, "/webhooks/tevo/wrong", good, via_proxy),
        (403, url, good, {**FORM_HEADERS, "X-Forwarded-For": "198.51.100.1"}),
        (415, url, good, {**via_proxy, "Content-Type": "application/json"}),
        (413, url, good + "&pad=" + "x" * MAX_BODY, via_proxy),
        (400, url, form('{"id": NaN}'), via_proxy),
    ]
    for status, path, body, headers in refusals:
        response = await client.post(path, data=body, headers=headers)
        assert response.status == status
    unrouted = ingress_settings.topology.unrouted
    assert await queue_depth(amqp, unrouted) == 0
    accepted = await client.post(url, data=good, headers=via_proxy)
    assert accepted.status == 202
    await _depth_becomes(amqp, unrouted, 1)  # the check above could have seen a message


@pytest.fixture
async def fuzz_ingress(make_ingress: MakeIngress) -> Client:
    return await make_ingress()


@settings(
    max_examples=60,
    deadline=None,  # a shared broker: time is not what this test is about
    # One service and one namespace for every example, on purpose: depth adds up across them.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=webhook_requests([TOKEN], MAX_BODY))
async def test_fuzz_publishes_exactly_what_it_accepts(
    fuzz_ingress: Client,
    ingress_settings: IngressSettings,
    amqp: aio_pika.abc.AbstractChannel,
    request: FuzzRequest,
) -> None:
    unrouted = ingress_settings.topology.unrouted
    before = await queue_depth(amqp, unrouted)
    response = await fuzz_ingress.post(
        request.path, data=request.body, headers=request.headers, skip_auto_headers=["Content-Type"]
    )
    event(f"status {response.status}")
    assert 200 <= response.status < 500, await response.read()
    if response.status == 202:
        await _depth_becomes(amqp, unrouted, before + 1)
    else:
        # A refusal returns after anything it published was confirmed: none may be there now.
        assert await queue_depth(amqp, unrouted) == before
    assert (await fuzz_ingress.get("/readyz")).status == 200
