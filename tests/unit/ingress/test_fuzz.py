"""Fuzz the endpoint: whatever arrives, the answer is 2xx or 4xx, a refusal publishes nothing,
no answer quotes a token, and the service stays healthy."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings

from tests.unit.ingress.conftest import OLD_TOKEN, TOKEN, Client, FakePublisher, MakeClient
from tests.webhook_requests import FuzzRequest, webhook_requests

MAX_BODY = 4096


@pytest.fixture
async def fuzz_client(make_client: MakeClient) -> Client:
    return await make_client(
        webhook_tokens=(OLD_TOKEN, TOKEN),
        max_body_bytes=MAX_BODY,
        allowed_networks="127.0.0.0/8",
        trusted_proxies="127.0.0.1/32",
    )


@settings(
    max_examples=400,
    deadline=None,  # a shared machine: time is not what this test is about
    # One service for every example, on purpose: it must stay healthy across all of them.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=webhook_requests([TOKEN, OLD_TOKEN], MAX_BODY))
async def test_any_request_gets_2xx_or_4xx_and_a_refusal_publishes_nothing(
    fuzz_client: Client, publisher: FakePublisher, request: FuzzRequest
) -> None:
    before = len(publisher.published)
    response = await fuzz_client.post(
        request.path, data=request.body, headers=request.headers, skip_auto_headers=["Content-Type"]
    )
    answer = await response.read()
    event(f"status {response.status}")  # --hypothesis-show-statistics shows what was reached
    assert 200 <= response.status < 500, answer
    assert len(publisher.published) == before + (1 if response.status == 202 else 0)
    assert TOKEN.encode() not in answer
    assert OLD_TOKEN.encode() not in answer
    if response.status >= 400 and response.content_type == "application/json":
        assert set(json.loads(answer)) == {"error", "field", "detail"}
    # Still up and ready after every example, on the same server.
    assert (await fuzz_client.get("/healthz")).status == 200
    assert (await fuzz_client.get("/readyz")).status == 200
