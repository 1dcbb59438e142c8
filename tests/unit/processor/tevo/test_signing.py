"""TEvo's request signature, proven with the vector from TEvo's documentation."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from processor.tevo.api import canonical_query, sign


def test_documented_vector() -> None:
    signature = sign("xyz", "GET", "api.ticketevolution.com", "/v9/brokerages", "page=1&per_page=1")
    assert signature == "n+kyuaIJKFuUTkEYCdMhR3l3o9WNBbTIJE3qcniboWE="


def test_the_vector_holds_whatever_order_the_parameters_come_in() -> None:
    query = canonical_query({"per_page": 1, "page": 1})
    assert query == "page=1&per_page=1"
    signature = sign("xyz", "get", "api.ticketevolution.com", "/v9/brokerages", query)
    assert signature == "n+kyuaIJKFuUTkEYCdMhR3l3o9WNBbTIJE3qcniboWE="


def _hmac(secret: str, message: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    ).decode()


def test_question_mark_is_signed_even_without_a_query() -> None:
    signature = sign("xyz", "GET", "api.ticketevolution.com", "/v9/orders/10324712")
    assert signature == _hmac("xyz", "GET api.ticketevolution.com/v9/orders/10324712?")
    assert signature != _hmac("xyz", "GET api.ticketevolution.com/v9/orders/10324712")


def test_a_post_signs_its_body_in_place_of_the_query() -> None:
    body = '{"orders":[{"id":1}]}'
    signature = sign("xyz", "POST", "api.ticketevolution.com", "/v9/orders", body)
    assert signature == _hmac("xyz", f"POST api.ticketevolution.com/v9/orders?{body}")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ""),
        ({"type": "Order", "state": "pending"}, "state=pending&type=Order"),
        ({"q": "a b&c"}, "q=a+b%26c"),
    ],
)
def test_canonical_query_sorts_and_encodes(params: dict[str, str], expected: str) -> None:
    assert canonical_query(params) == expected


def test_another_secret_signs_differently() -> None:
    args = ("api.ticketevolution.com", "/v9/brokerages", "page=1&per_page=1")
    assert sign("xyz", "GET", *args) != sign("xyw", "GET", *args)
