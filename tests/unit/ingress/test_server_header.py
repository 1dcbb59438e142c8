"""No answer of the ingress names its software's versions (`Server: Python/3.11 aiohttp/3.x`)."""

from __future__ import annotations

import pytest

from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import TOKEN, Client, raw_exchange


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/nowhere"),  # 404 from the router
        ("POST", "/webhooks/tevo/wrong-token"),  # 401
        ("POST", f"/webhooks/tevo/{TOKEN}"),  # 202
    ],
)
async def test_no_server_header(client: Client, method: str, path: str) -> None:
    response = await client.request(method, path, data=form(order()), headers=FORM_HEADERS)
    assert response.headers["Server"] == "tevo-pos-webhooks"


async def test_a_request_the_parser_refuses_names_no_version(client: Client) -> None:
    answer = await raw_exchange(client, b"GARBAGE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400")
    assert b"\r\nServer: tevo-pos-webhooks\r\n" in answer
    assert b"aiohttp" not in answer
