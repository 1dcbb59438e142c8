"""Prometheus metrics of the processor, in a registry of its own."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.build import add_standard_collectors

# What `tevo_processor_paused_seconds_total{reason}` can say (processor/runtime/pause.py).
PAUSE_REASONS = ("database", "tevo_api", "schema")
# The processor's background tasks, by the name `tevo_processor_background_failures_total` uses.
BACKGROUND_TASKS = ("review_watch",)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class ProcessorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._delivery_metrics()
        self._stuck_metrics()
        self._pos_metrics()
        add_standard_collectors(self.registry, "processor")

    def _delivery_metrics(self) -> None:
        """What happened to the messages: outcomes, latencies, batches, pauses."""
        self.messages = Counter(
            "tevo_processor_messages_total",
            "Messages handled, by consumer and outcome "
            "(applied, duplicate, retried, dead_lettered, requeued, paused).",
            ["consumer", "outcome"],
            registry=self.registry,
        )
        self.handler_seconds = self._per_consumer(
            "tevo_processor_handler_seconds",
            "Time to apply one message: transaction, handler and commit (of its whole batch).",
            _LATENCY_BUCKETS,
        )
        self.end_to_end_seconds = self._per_consumer(
            "tevo_processor_end_to_end_seconds",
            "Time from receipt at the ingress to commit in the POS.",
            _LATENCY_BUCKETS,
        )
        self.batches = self._per_consumer(
            "tevo_processor_batch_messages",
            "Messages per committed batch transaction.",
            (1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
        self.batch_fallbacks = Counter(
            "tevo_processor_batch_fallbacks_total",
            "Batches that failed as a whole (connection, conflict, timeout, commit) and whose "
            "messages were then applied one by one.",
            ["consumer"],
            registry=self.registry,
        )
        self.paused_seconds = Counter(
            "tevo_processor_paused_seconds",
            "Seconds consumption was paused because a dependency was down, by dependency "
            "(database, tevo_api, schema: not migrated); the messages waited in their queues.",
            ["reason"],
            registry=self.registry,
        )

    def _stuck_metrics(self) -> None:
        """What should never happen, made visible: crashed batches, held deliveries, tasks."""
        self.batch_crashes = Counter(
            "tevo_processor_batch_crashes_total",
            "Batches whose handling raised past the dispatcher (a bug): their unsettled "
            "deliveries were requeued at once.",
            ["consumer"],
            registry=self.registry,
        )
        self.oldest_unsettled_seconds = Gauge(
            "tevo_processor_oldest_unsettled_seconds",
            "How long the oldest delivery this processor holds unacked has been held; past "
            "TEVO_HELD_DELIVERY_LIMIT, /readyz answers 503.",
            registry=self.registry,
        )
        self.background_failures = Counter(
            "tevo_processor_background_failures_total",
            "Background tasks (e.g. review_watch) that ended with an error and were restarted.",
            ["task"],
            registry=self.registry,
        )

    def _pos_metrics(self) -> None:
        """What the messages did to the POS, and what waits for a person."""
        self.created = Counter(
            "tevo_pos_records_created_total",
            "POS records created, counted once their transaction committed, by consumer and record "
            "(customer, sale, invoice, purchase_order).",
            ["consumer", "record"],
            registry=self.registry,
        )
        self.sales_awaiting_review = Gauge(
            "tevo_sales_awaiting_review",
            "Sales that need a person (what `python -m processor review list` shows): held, "
            "flagged, waiting visibly or too long, and not resolved.",
            registry=self.registry,
        )
        self.sales_fraud_wait_exceeded = Gauge(
            "tevo_pos_sales_fraud_wait_exceeded",
            "Sales awaiting a fraud decision for longer than TEVO_FRAUD_WAIT_LIMIT.",
            registry=self.registry,
        )
        self.fraud_waits_exceeded = Counter(
            "tevo_pos_fraud_waits_exceeded_total",
            "Sales flagged for waiting longer than TEVO_FRAUD_WAIT_LIMIT, each counted once.",
            registry=self.registry,
        )

    def initialise(self, consumers: Iterable[str], outcomes: Iterable[str]) -> None:
        """Give every consumer's outcome a series at 0, before any message.

        Alerts use `increase()`, which needs two samples: without this the first dead letter
        after a restart would make the series appear at 1 and never count as an increase.
        """
        outcomes = tuple(outcomes)
        for consumer in consumers:
            self.batch_crashes.labels(consumer)
            for outcome in outcomes:
                self.messages.labels(consumer, outcome)
        for task in BACKGROUND_TASKS:
            self.background_failures.labels(task)
        for reason in PAUSE_REASONS:
            self.paused_seconds.labels(reason)

    def _per_consumer(self, name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, documentation, ["consumer"], registry=self.registry, buckets=buckets)

    def count_created(self, consumer: str, records: Iterable[str]) -> None:
        """Count what a committed transaction created; call it only after the commit.

        Once per kind of record, not per record: a batch creates a sale and an invoice a message.
        """
        for record, count in collections.Counter(records).items():
            self.created.labels(consumer, record).inc(count)
