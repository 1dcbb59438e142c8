"""Prometheus metrics of the ingress, in a registry of its own so tests can build many apps."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class IngressMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

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
