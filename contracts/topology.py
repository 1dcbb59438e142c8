"""Names and arguments of every exchange and queue, derived from the namespace.

Pure data: the ingress and the processor declare what this module describes, so the two sides
cannot drift apart. Every name starts with the namespace so environments and tests share a broker
without sharing messages.

    <ns>.webhooks          topic exchange; the ingress publishes `<recipient>.<event_type>` here
    <ns>.unrouted          fanout exchange + queue: the webhooks exchange's alternate exchange,
                           where events no consumer is bound to wait, visible and replayable
    <ns>.<consumer>        quorum queue per consumer, bound to the consumer's routing keys
    <ns>.<consumer>.dead   its dead letters: permanent failures and exhausted retries
    <ns>.delay.<seconds>s  retry delay queues: messages wait out a TTL there, then dead-letter
                           into <ns>.retry
    <ns>.retry             headers exchange that routes a delayed message back to the one queue
                           named in its `retry_queue` header

Every queue is a quorum queue. `quorum_group_size`, when set, becomes each one's
`x-quorum-initial-group-size`; unset, RabbitMQ picks its default (the cluster's size up to 3) and
the argument is left out, so queues declared before the setting existed still match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ExchangeType = Literal["topic", "fanout", "headers", "direct"]

# Header on a delayed retry naming the queue it returns to (headers exchanges ignore `x-` keys).
RETRY_QUEUE_HEADER = "retry_queue"

# A safety net under the dispatcher's own retry accounting: a message that kills its consumer
# before the dispatcher can decide (a crash loop) is dead-lettered by the broker after this many
# deliveries.
DELIVERY_LIMIT = 20

# Bound of <ns>.unrouted. Past it, publishes of unconsumed event types are refused (the ingress
# answers 503) instead of filling the broker's disk.
UNROUTED_MAX_LENGTH = 100_000


# (exchange, routing key, binding arguments)
Binding = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: ExchangeType
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSpec:
    name: str
    arguments: dict[str, Any]
    bindings: tuple[Binding, ...] = ()


@dataclass(frozen=True)
class Topology:
    """Every name under one namespace."""

    namespace: str
    quorum_group_size: int | None = None  # replicas of a new quorum queue; None: the broker's

    @property
    def webhooks_exchange(self) -> str:
        return f"{self.namespace}.webhooks"

    @property
    def unrouted(self) -> str:
        return f"{self.namespace}.unrouted"

    @property
    def retry_exchange(self) -> str:
        return f"{self.namespace}.retry"

    def consumer_queue(self, consumer: str) -> str:
        return f"{self.namespace}.{consumer}"

    def dead_letter_queue(self, consumer: str) -> str:
        return f"{self.consumer_queue(consumer)}.dead"

    def delay_queue(self, seconds: int) -> str:
        return f"{self.namespace}.delay.{seconds}s"

    # -- what to declare ------------------------------------------------------------------

    def ingress_exchanges(self) -> list[ExchangeSpec]:
        return [
            ExchangeSpec(self.unrouted, "fanout"),
            ExchangeSpec(self.webhooks_exchange, "topic", {"alternate-exchange": self.unrouted}),
        ]

    def unrouted_queue(self) -> QueueSpec:
        return QueueSpec(
            self.unrouted,
            # reject-publish: when full, the ingress gets a nack and answers 503; nothing dropped.
            self._quorum(
                {"x-max-length": UNROUTED_MAX_LENGTH, "x-overflow": "reject-publish"},
            ),
            ((self.unrouted, "", {}),),
        )

    def consumer_queues(self, consumer: str, routing_keys: tuple[str, ...]) -> list[QueueSpec]:
        queue = self.consumer_queue(consumer)
        dead = self.dead_letter_queue(consumer)
        bindings: tuple[Binding, ...] = tuple(
            (self.webhooks_exchange, key, {}) for key in routing_keys
        )
        retry: Binding = (self.retry_exchange, "", {"x-match": "all", RETRY_QUEUE_HEADER: queue})
        return [
            QueueSpec(dead, self._quorum({})),
            QueueSpec(
                queue,
                self._quorum(
                    {
                        "x-delivery-limit": DELIVERY_LIMIT,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": dead,
                        "x-dead-letter-strategy": "at-least-once",
                        "x-overflow": "reject-publish",
                    }
                ),
                (*bindings, retry),
            ),
        ]

    def delay_queues(self, delays: tuple[int, ...]) -> list[QueueSpec]:
        return [
            QueueSpec(
                self.delay_queue(seconds),
                self._quorum(
                    {
                        "x-message-ttl": seconds * 1000,
                        "x-dead-letter-exchange": self.retry_exchange,
                        "x-dead-letter-strategy": "at-least-once",
                        "x-overflow": "reject-publish",
                    }
                ),
            )
            for seconds in delays
        ]

    def _quorum(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A quorum queue's arguments: its type first (as the console lists them), its size."""
        sized = {"x-queue-type": "quorum", **arguments}
        if self.quorum_group_size is not None:
            sized["x-quorum-initial-group-size"] = self.quorum_group_size
        return sized

    def processor_exchanges(self) -> list[ExchangeSpec]:
        return [*self.ingress_exchanges(), ExchangeSpec(self.retry_exchange, "headers")]
