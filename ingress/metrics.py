"""Prometheus metrics of the ingress, in a registry of its own so tests can build many apps.

With several workers (`ingress.workers`) prometheus-client runs in multiprocess mode, and
`/metrics` shows the sum over every worker's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from contracts import DOCUMENTED_ROUTING_KEYS
from contracts.build import add_standard_collectors

SERVICE = "ingress"
# Refusals are counted before the form is read, so under `unknown` labels.
REFUSED_STATUSES = ("400", "401", "403", "408", "413", "415", "417")


@dataclass
class IngressMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # `labels()` validates and locks on every call; its children, kept, are as many as the
    # metric's own series (event types are 1 to 64 of [a-z0-9_], as the metric always allowed).
    _received: dict[tuple[str, str, str], Counter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.received = Counter(
            "tevo_webhooks_received_total",
            "Webhooks received, by recipient, event type and the HTTP status answered.",
            ["recipient", "event_type", "status"],
            registry=self.registry,
        )
        self.confirm_seconds = Histogram(
            "tevo_ingress_publish_confirm_seconds",
            "Time from publish to RabbitMQ's confirm.",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        add_standard_collectors(self.registry, SERVICE)
        self._initialise()

    def _initialise(self) -> None:
        # Every series an alert watches exists at 0 from the first scrape: `rate()` and
        # `increase()` see the first 503 or 401 after a restart, and silence is a 0, not nothing.
        for key in sorted(DOCUMENTED_ROUTING_KEYS):
            recipient, event_type = key.split(".", 1)
            for status in ("202", "503"):
                self._child((recipient, event_type, status))
        for status in REFUSED_STATUSES:
            self._child(("unknown", "unknown", status))

    @property
    def exposed(self) -> CollectorRegistry:
        """What `/metrics` shows: this registry, or every worker's when there are several."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return self.registry
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
        # One worker's CPU and memory would pass for the whole ingress: no process metrics here.
        add_standard_collectors(merged, SERVICE, per_process=False)
        return merged

    def count(self, recipient: str, event_type: str, status: str) -> None:
        """One more webhook answered `status`."""
        self._child((recipient, event_type, status)).inc()

    def _child(self, key: tuple[str, str, str]) -> Counter:
        child = self._received.get(key)
        if child is None:
            child = self._received[key] = self.received.labels(*key)
        return child
