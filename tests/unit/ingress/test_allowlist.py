"""TEVO_ALLOWED_NETWORKS at the endpoint, directly and behind a trusted proxy; 403 comes first."""

from __future__ import annotations

import pytest

from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import TOKEN, FakePublisher, MakeClient

URL = f"/webhooks/tevo/{TOKEN}"
TEVO = "203.0.113.0/24"  # documentation addresses stand in for TEvo's
PROXY = "127.0.0.1/32"  # the test client connects from loopback: it plays the proxy


async def _post(make_client: MakeClient, url: str = URL, **settings: object) -> int:
    forwarded = settings.pop("forwarded", None)
    client = await make_client(**settings)
    headers = dict(FORM_HEADERS)
    if isinstance(forwarded, str):
        headers["X-Forwarded-For"] = forwarded
    response = await client.post(url, data=form(order()), headers=headers)
    if response.status != 202:
        body = await response.json()
        assert set(body) == {"error", "field", "detail"}
    return response.status


async def test_without_an_allowlist_any_source_may_post(make_client: MakeClient) -> None:
    assert await _post(make_client) == 202


async def test_a_direct_peer_in_the_allowlist_may_post(make_client: MakeClient) -> None:
    assert await _post(make_client, allowed_networks="127.0.0.0/8") == 202


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_client: MakeClient, publisher: FakePublisher
) -> None:
    status = await _post(make_client, allowed_networks=TEVO, forwarded="203.0.113.7")
    assert status == 403
    assert publisher.published == []


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        ("203.0.113.7", 202),
        ("198.51.100.1, 203.0.113.7", 202),  # the forged left part is not looked at
        ("203.0.113.7, 198.51.100.1", 403),  # the proxy saw 198.51.100.1 connect
        ("garbage", 403),
        (None, 403),  # from the proxy itself, which is not TEvo
    ],
)
async def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_counts(
    make_client: MakeClient, publisher: FakePublisher, forwarded: str | None, status: int
) -> None:
    got = await _post(
        make_client, allowed_networks=TEVO, trusted_proxies=PROXY, forwarded=forwarded
    )
    assert got == status
    assert len(publisher.published) == (1 if status == 202 else 0)


async def test_403_comes_before_401_so_a_stranger_cannot_test_tokens(
    make_client: MakeClient,
) -> None:
    client = await make_client(allowed_networks=TEVO)
    answers = []
    for token in (TOKEN, "wrong"):
        response = await client.post(
            f"/webhooks/tevo/{token}", data=form(order()), headers=FORM_HEADERS
        )
        answers.append((response.status, await response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 403


async def test_an_allowed_source_still_needs_the_token(make_client: MakeClient) -> None:
    assert await _post(make_client, "/webhooks/tevo/wrong", allowed_networks="127.0.0.1") == 401
