"""What `unrouted move` hands over and what `unrouted list` shows; no network needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from processor.handler import Consumer
from processor.ops import unrouted
from processor.registry import CONSUMERS


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("buyer.order_accepted", "buyer.order_accepted", True),
        ("buyer.order_accepted", "seller.order_accepted", False),
        ("buyer.*", "buyer.order_accepted", True),
        ("buyer.*", "buyer", False),
        ("buyer.*", "buyer.a.b", False),
        ("#", "buyer.order_accepted", True),
        ("buyer.#", "buyer", True),
        ("buyer.#", "buyer.a.b", True),
        ("#.order_accepted", "buyer.order_accepted", True),
        ("*.order_accepted", "order_accepted", False),
    ],
)
def test_topic_patterns_match_as_rabbitmq_matches_them(
    pattern: str, key: str, matches: bool
) -> None:
    assert unrouted.topic_matches(pattern, key) is matches


def test_a_key_goes_to_the_registered_consumer_bound_to_it() -> None:
    assert unrouted.consumer_for("buyer.order_accepted", CONSUMERS) == "buyer.order_accepted"
    assert unrouted.consumer_for("catalog.event_deleted", CONSUMERS) == "catalog.events"
    assert unrouted.consumer_for("buyer.ticket_teleported", CONSUMERS) is None
    assert unrouted.consumer_for(None, CONSUMERS) is None


@dataclass
class Delivery:
    """The fields of an unrouted message that `describe` reads, and a body it must not."""

    routing_key: str
    message_id: str
    headers: dict[str, Any] = field(default_factory=dict)
    body: bytes = b'{"client": {"name": "Jordan Avery"}}'


def test_a_listed_message_shows_key_taker_id_and_headers_but_not_its_body() -> None:
    delivery = Delivery("buyer.nothing_yet", "abc123", {"event_type": "nothing_yet", "n": 1})
    line = unrouted.describe(cast(AbstractIncomingMessage, delivery), CONSUMERS)
    assert line == 'buyer.nothing_yet\t-\tabc123\t{"event_type": "nothing_yet", "n": 1}'
    extra = Consumer("buyer.nothing_yet", ("buyer.*",), CONSUMERS[0].handle)
    line = unrouted.describe(cast(AbstractIncomingMessage, delivery), [*CONSUMERS, extra])
    assert line.split("\t")[1] == "buyer.nothing_yet"
    assert "Jordan" not in line
