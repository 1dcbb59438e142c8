"""The consumer registry: every documented event type has a consumer, and no queue has two."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter

import processor.consumers
from contracts import DOCUMENTED_ROUTING_KEYS, EVENT_TYPE_PATTERN
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings


def test_every_documented_event_type_has_a_consumer() -> None:
    bound = {key for consumer in CONSUMERS for key in consumer.routing_keys}
    assert sorted(DOCUMENTED_ROUTING_KEYS - bound) == []


def test_no_two_consumers_claim_one_queue() -> None:
    queues = Counter(ProcessorSettings().topology.consumer_queue(c.name) for c in CONSUMERS)
    assert [queue for queue, n in queues.items() if n > 1] == []


def test_no_routing_key_is_applied_by_two_consumers() -> None:
    # Two consumers on one key would apply the same webhook twice, each with its own inbox row.
    keys = Counter(key for consumer in CONSUMERS for key in consumer.routing_keys)
    assert [key for key, n in keys.items() if n > 1] == []


def test_routing_keys_are_exact_recipient_dot_event_type() -> None:
    for consumer in CONSUMERS:
        for key in consumer.routing_keys:
            recipient, _, event_type = key.partition(".")
            assert recipient in {"seller", "buyer", "catalog"}, key
            assert EVENT_TYPE_PATTERN.fullmatch(event_type), key


def test_every_consumer_module_is_registered() -> None:
    # A module written but not listed would never run: the registry is the one place to look.
    registered = {c.handle.__module__ for c in CONSUMERS}
    modules = {
        f"{processor.consumers.__name__}.{info.name}"
        for info in pkgutil.iter_modules(processor.consumers.__path__)
    }
    for name in modules:
        assert hasattr(importlib.import_module(name), "CONSUMER"), name
    assert sorted(modules - registered) == []
