"""Acks of committed work in runs: a multiple-ack only for the channel's oldest unsettled
deliveries, never over one that another batch still holds or that was nacked."""

from __future__ import annotations

from typing import cast

from aio_pika.abc import AbstractIncomingMessage

from processor.runtime.acks import Acks


class Delivery:
    def __init__(self, sent: list[str], tag: int | None) -> None:
        self.sent, self.delivery_tag = sent, tag

    async def ack(self, multiple: bool = False) -> None:
        self.sent.append(f"ack {self.delivery_tag}" + (" and before" if multiple else ""))

    async def nack(self, requeue: bool = True) -> None:
        self.sent.append(f"nack {self.delivery_tag} requeue={requeue}")


def _received(acks: Acks, sent: list[str], *tags: int) -> dict[int, AbstractIncomingMessage]:
    deliveries = {tag: cast(AbstractIncomingMessage, Delivery(sent, tag)) for tag in tags}
    for delivery in deliveries.values():
        acks.received(delivery)
    return deliveries


async def test_a_batch_of_the_oldest_deliveries_is_acked_with_one_multiple_ack() -> None:
    acks, sent = Acks(), list[str]()
    d = _received(acks, sent, 1, 2, 3, 4)
    await acks.ack([d[2], d[1], d[3]])  # in the batch's own order, by what it locks
    assert sent == ["ack 3 and before"]


async def test_a_batch_behind_one_still_running_is_acked_one_by_one() -> None:
    acks, sent = Acks(), list[str]()
    d = _received(acks, sent, 1, 2, 3, 4)
    await acks.ack([d[3], d[4]])  # 1 and 2 are another batch's, not committed yet
    assert sent == ["ack 3", "ack 4"]
    await acks.ack([d[1], d[2]])
    assert sent[2:] == ["ack 2 and before"]  # 3 and 4 are settled already: the run ends at 2


async def test_another_consumers_delivery_in_between_ends_the_run() -> None:
    acks, sent = Acks(), list[str]()
    d = _received(acks, sent, 1, 2, 3)  # 2 is another consumer's, waiting for its batch
    await acks.ack([d[1], d[3]])
    assert sent == ["ack 1 and before", "ack 3"]
    await acks.ack([d[2]])
    assert sent[2:] == ["ack 2 and before"]


async def test_a_nacked_delivery_is_never_in_a_run_and_does_not_stop_one() -> None:
    acks, sent = Acks(), list[str]()
    d = _received(acks, sent, 1, 2, 3)
    await acks.nack(d[2])
    await acks.ack([d[1]])
    await acks.ack([d[3]])
    assert sent == ["nack 2 requeue=True", "ack 1 and before", "ack 3 and before"]


async def test_a_delivery_it_was_not_told_of_is_acked_alone() -> None:
    acks, sent = Acks(), list[str]()
    d = _received(acks, sent, 1)
    stranger = cast(AbstractIncomingMessage, Delivery(sent, None))
    await acks.ack([stranger, d[1]])
    assert sent == ["ack None", "ack 1 and before"]


async def test_a_crashed_batchs_release_requeues_only_what_is_unsettled_and_runs_resume() -> None:
    acks, sent = Acks(), list[str]()
    d = _received(acks, sent, 1, 2, 3, 4, 5)
    await acks.ack([d[2]])  # acked alone before the batch of 1, 2 and 3 crashed
    assert await acks.release([d[1], d[2], d[3]]) == 2
    assert sent == ["ack 2", "nack 1 requeue=True", "nack 3 requeue=True"]  # never 2 again
    await acks.ack([d[4], d[5]])
    assert sent[3:] == ["ack 5 and before"]  # the stranded head is gone: a run again


async def test_the_oldest_unsettled_delivery_has_an_age_until_it_is_settled() -> None:
    acks, sent = Acks(), list[str]()
    assert acks.oldest_age() == 0.0
    d = _received(acks, sent, 1, 2)
    assert acks.oldest_age() >= 0.0
    await acks.ack([d[2]])
    assert acks.oldest_age() > 0.0  # 1 is still held
    await acks.release([d[1]])
    assert acks.oldest_age() == 0.0
