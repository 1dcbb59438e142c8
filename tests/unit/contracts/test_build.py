"""Both registries carry process, Python and build metrics, and the series alerts need at 0."""

from __future__ import annotations

import platform

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from contracts.release import version
from ingress.metrics import IngressMetrics
from processor.metrics import PAUSE_REASONS, ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.dispatch import Outcome


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("service", "registry"),
    [("ingress", IngressMetrics().registry), ("processor", ProcessorMetrics().registry)],
)
def test_process_python_and_build_metrics_are_exposed(
    service: str, registry: CollectorRegistry
) -> None:
    samples = _samples(registry)
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert {"python_info", "python_gc_collections_total"} <= names
    build = {
        ("service", service),
        ("version", version()),
        ("python", platform.python_version()),
    }
    assert samples[("tevo_build_info", tuple(sorted(build)))] == 1


def test_the_ingress_counts_accepted_refused_and_unavailable_from_zero() -> None:
    samples = _samples(IngressMetrics().registry)
    received = "tevo_webhooks_received_total"
    accepted = (("event_type", "order_created"), ("recipient", "seller"), ("status", "202"))
    assert samples[(received, accepted)] == 0
    unknown = (("event_type", "unknown"), ("recipient", "unknown"), ("status", "401"))
    assert samples[(received, unknown)] == 0


def test_an_initialised_processor_has_every_outcome_of_every_consumer_at_zero() -> None:
    metrics = ProcessorMetrics()
    metrics.initialise([c.name for c in CONSUMERS], [o.value for o in Outcome])
    samples = _samples(metrics.registry)
    for consumer in CONSUMERS:
        for outcome in Outcome:
            key = (("consumer", consumer.name), ("outcome", outcome.value))
            assert samples[("tevo_processor_messages_total", key)] == 0
    for reason in PAUSE_REASONS:
        assert samples[("tevo_processor_paused_seconds_total", (("reason", reason),))] == 0
