"""No token reaches a log line, ours (structlog) or a library's (stdlib), nor the metrics."""

from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import TOKEN, Client, MakeClient, raw_exchange

NEAR_MISS = TOKEN[:-1] + "X"  # a typo of the real token is as secret as the token


def _stdlib_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


async def _traffic(client: Client) -> None:
    good = f"/webhooks/tevo/{TOKEN}"
    assert (await client.post(good, data=form(order()), headers=FORM_HEADERS)).status == 202
    near = f"/webhooks/tevo/{NEAR_MISS}"
    assert (await client.post(near, data=form(order()), headers=FORM_HEADERS)).status == 401
    assert (await client.post(good, data="{}", headers={"Content-Type": "text/json"})).status == 415
    assert (await client.post(good, data="body=[", headers=FORM_HEADERS)).status == 400
    assert (await client.post(f"{good}/extra", data="x", headers=FORM_HEADERS)).status == 404
    assert (await client.get(good)).status == 405
    assert (await client.get("/metrics")).status == 200


async def test_our_events_and_the_access_log_never_carry_a_token(client: Client) -> None:
    with capture_logs() as logs:
        await _traffic(client)
    assert TOKEN not in repr(logs)
    assert NEAR_MISS not in repr(logs)
    access = [e for e in logs if e["event"] == "http.request"]
    assert {e["route"] for e in access} >= {"/webhooks/tevo/{token}", "/metrics", None}
    assert {e["event"] for e in logs} >= {"webhook.accepted", "webhook.unauthorized"}


async def test_library_logs_never_carry_a_token(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _traffic(client)
    # A malformed request line: aiohttp logs it, whole, at error level.
    for token in (TOKEN, NEAR_MISS):
        answer = await raw_exchange(
            client, f"POST /webhooks/tevo/{token} HTTP/9.9\r\n\r\n".encode()
        )
        assert answer.startswith(b"HTTP/1.0 400 ")
    text = _stdlib_text(caplog)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Exactly the two malformed requests: the access log itself must not fail on them.
    assert [r.name for r in errors] == ["aiohttp.server", "aiohttp.server"]
    assert "/webhooks/tevo/***" in text
    assert TOKEN not in text
    assert NEAR_MISS not in text


async def test_the_metrics_never_carry_a_token(make_client: MakeClient) -> None:
    client = await make_client()
    await _traffic(client)
    metrics = await (await client.get("/metrics")).text()
    assert 'status="401"' in metrics
    assert TOKEN not in metrics
    assert NEAR_MISS not in metrics
