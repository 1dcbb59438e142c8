"""`TEVO_AMQP_URL` as a list of a cluster's nodes: parsing, the order of trial, the group size."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.brokers import Brokers, first_answering, node_of, parse_amqp_urls
from ingress.settings import IngressSettings
from processor.registry import CONSUMERS
from processor.runtime.topology import all_queues
from processor.settings import ProcessorSettings

A = "amqp://tevo:s3cret@rabbit-a:5672/pos"
B = "amqp://tevo:s3cret@rabbit-b:5673/pos"
C = "amqps://tevo:s3cret@rabbit-c/pos"


def test_one_url_is_a_list_of_one() -> None:
    assert parse_amqp_urls("amqp://guest:guest@127.0.0.1:5672/") == (
        "amqp://guest:guest@127.0.0.1:5672/",
    )


def test_a_comma_separated_list_keeps_its_order_and_drops_blanks() -> None:
    assert parse_amqp_urls(f" {A}, {B} ,{C},") == (A, B, C)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("", "no AMQP URL"),
        (f"{A},http://rabbit-b/pos", "URL 2 is not amqp"),
        (f"{A},amqp:///pos", "URL 2 is not amqp"),
        (f"{A},amqp://rabbit-b:port/pos", "URL 2 has a port"),
        (f"{A},amqp://tevo:s3cret@rabbit-b/other", "same virtual host"),
        (f"{A},amqp://other:user@rabbit-a:5672/pos", "listed twice"),
    ],
)
def test_a_wrong_list_is_refused_without_echoing_it(value: str, complaint: str) -> None:
    with pytest.raises(ValidationError) as refused:
        IngressSettings(amqp_url=value, webhook_tokens=("x" * 32,))
    assert complaint in str(refused.value)
    assert "s3cret" not in str(refused.value)  # the settings error never prints a password


def test_node_names_host_and_port_only() -> None:
    assert [node_of(url) for url in (A, B, C)] == [
        "rabbit-a:5672",
        "rabbit-b:5673",
        "rabbit-c:5671",
    ]


def test_the_rotation_tries_the_node_lost_last() -> None:
    brokers = Brokers((A, B, C))
    assert brokers.rotation() == (A, B, C)
    assert brokers.rotation(A) == (B, C, A)
    assert brokers.rotation(C) == (A, B, C)
    assert brokers.rotation("amqp://gone/pos") == (A, B, C)
    assert brokers.vhost == "pos"


async def test_first_answering_moves_on_only_for_connection_failures() -> None:
    tried: list[str] = []
    failed: list[str] = []

    async def connect(url: str) -> str:
        tried.append(url)
        if url != C:
            raise ConnectionRefusedError(url)
        return f"connected to {url}"

    answer = await first_answering(
        (A, B, C), connect, (OSError,), lambda url, _exc: failed.append(url)
    )
    assert answer == f"connected to {C}"
    assert tried == [A, B, C]
    assert failed == [A, B]

    async def refuses(url: str) -> str:
        raise PermissionError(url) if url == A else ValueError(url)

    with pytest.raises(ValueError, match="rabbit-b"):  # not a connection failure: no third try
        await first_answering((A, B, C), refuses, (PermissionError,))


async def test_first_answering_raises_the_last_failure_when_none_answers() -> None:
    async def connect(url: str) -> str:
        raise ConnectionRefusedError(url)

    with pytest.raises(ConnectionRefusedError, match="rabbit-c"):
        await first_answering((A, B, C), connect, (OSError,))


def test_the_group_size_setting_sizes_every_quorum_queue() -> None:
    sized = ProcessorSettings(quorum_initial_group_size=3).topology
    queues = all_queues(sized, CONSUMERS, (1, 10))
    assert queues
    for queue in queues:
        assert queue.arguments["x-queue-type"] == "quorum"
        assert queue.arguments["x-quorum-initial-group-size"] == 3, queue.name
    assert sized.unrouted_queue().arguments["x-quorum-initial-group-size"] == 3


def test_without_the_setting_the_broker_chooses() -> None:
    # Left out, not defaulted: RabbitMQ refuses a redeclaration with a value the queue was not
    # created with, so queues made before the setting existed must keep matching.
    for queue in all_queues(ProcessorSettings().topology, CONSUMERS, (1, 10)):
        assert "x-quorum-initial-group-size" not in queue.arguments
