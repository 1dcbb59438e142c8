"""Each refusal of the endpoint: its status, its JSON, its order, and that nothing is published."""

from __future__ import annotations

import pytest

from ingress.errors import Refused
from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import (
    WEBHOOK_URL,
    Client,
    FakePublisher,
    MakeClient,
    assert_refusal,
    raw_exchange,
    webhook_head,
)


async def test_a_good_webhook_is_published(client: Client, publisher: FakePublisher) -> None:
    response = await client.post(WEBHOOK_URL, data=form(order()), headers=FORM_HEADERS)
    assert response.status == 202
    assert [e.routing_key for e in publisher.published] == ["seller.order_created"]


async def test_charset_utf8_is_accepted(client: Client, publisher: FakePublisher) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    response = await client.post(WEBHOOK_URL, data=form(order()), headers=headers)
    assert response.status == 202
    assert len(publisher.published) == 1


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Content-Type": "application/json"}, "Content-Type"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, "Content-Type"),
        ({"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"}, "Content-Type"),
        (
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
            "Content-Encoding",
        ),
        ({}, "Content-Type"),
    ],
)
async def test_wrong_media_is_415(
    client: Client, publisher: FakePublisher, headers: dict[str, str], field: str
) -> None:
    response = await client.post(
        WEBHOOK_URL,
        data=form(order()).encode(),
        headers=headers,
        skip_auto_headers=["Content-Type"],
    )
    payload = assert_refusal(response.status, await response.read(), 415)
    assert payload["field"] == field
    assert publisher.published == []


async def test_the_token_is_checked_before_anything_about_the_request(
    client: Client, publisher: FakePublisher
) -> None:
    huge = "x" * (2 * 1024 * 1024)
    response = await client.post(
        "/webhooks/tevo/wrong", data=huge, headers={"Content-Type": "application/json"}
    )
    payload = assert_refusal(response.status, await response.read(), 401)
    assert payload == {"error": "unauthorized", "field": None, "detail": None}
    assert publisher.published == []


async def test_a_declared_oversize_body_is_413_before_it_is_sent(client: Client) -> None:
    head = webhook_head(f"Content-Length: {2 * 1024 * 1024}")
    # No body follows: the answer can only come from the head.
    answer = await raw_exchange(client, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer


async def test_too_many_fields_is_400(make_client: MakeClient, publisher: FakePublisher) -> None:
    client = await make_client(max_form_fields=5)
    response = await client.post(
        WEBHOOK_URL, data=form(order(), a="1", b="2"), headers=FORM_HEADERS
    )
    payload = assert_refusal(response.status, await response.read(), 400)
    assert payload["detail"] == "the form has more than 5 fields"
    assert publisher.published == []


async def test_a_malformed_field_is_a_json_400_naming_it(
    client: Client, publisher: FakePublisher
) -> None:
    response = await client.post(
        WEBHOOK_URL, data=form(order(), order_group_id="4606857-10324712"), headers=FORM_HEADERS
    )
    payload = assert_refusal(response.status, await response.read(), 400)
    assert payload == {
        "error": "malformed webhook",
        "field": "order_group_id",
        "detail": "must be digits, at most 18",
    }
    assert publisher.published == []


def test_every_refusal_says_its_status_and_error() -> None:
    classes = Refused.__subclasses__()
    assert {c.status for c in classes} == {400, 401, 403, 408, 413, 415, 417}
    for cls in classes:
        refusal = cls(None, "why")
        assert refusal.as_json() == {"error": cls.error, "field": None, "detail": "why"}
