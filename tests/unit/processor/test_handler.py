"""The handler contract's Deps: TEvo's answers fetched once, outside, and carried to the handler."""

from __future__ import annotations

from typing import Any

from processor.errors import UpstreamUnavailable
from processor.handler import Deps
from processor.settings import ProcessorSettings


class Orders:
    """TEvo's API as a dict of orders; an id in `down` fails like an outage."""

    def __init__(
        self, orders: dict[int, dict[str, Any]], down: frozenset[int] = frozenset()
    ) -> None:
        self.orders, self.down = orders, down
        self.asked: list[int] = []

    async def get_order(self, order_id: int) -> dict[str, Any] | None:
        self.asked.append(order_id)
        if order_id in self.down:
            raise UpstreamUnavailable("TEvo is down")
        return self.orders.get(order_id)


async def test_answers_are_asked_once_per_order_and_carried_in_a_copy() -> None:
    api = Orders({1: {"id": 1}})
    deps = Deps(ProcessorSettings(), tevo_api=api)
    answered, failed = await deps.answered([2, 1, 2])
    assert failed == {}
    assert api.asked == [1, 2]
    assert answered.answers == {1: {"id": 1}, 2: None}  # None: TEvo has no such order
    assert deps.answers == {}  # the deps every handler shares are left as they were
    assert answered.offices is deps.offices  # the committed customer ids stay shared


async def test_an_order_tevo_cannot_answer_for_is_an_error_not_an_answer() -> None:
    api = Orders({1: {"id": 1}}, down=frozenset({2}))
    answered, failed = await Deps(ProcessorSettings(), tevo_api=api).answered([1, 2])
    assert answered.answers == {1: {"id": 1}}
    assert isinstance(failed[2], UpstreamUnavailable)


async def test_without_an_api_nothing_is_asked() -> None:
    deps = Deps(ProcessorSettings())
    answered, failed = await deps.answered([1])
    assert (answered, failed) == (deps, {})


def test_knowing_adds_to_the_answers_at_hand() -> None:
    deps = Deps(ProcessorSettings()).knowing({1: None}).knowing({2: {"id": 2}})
    assert deps.answers == {1: None, 2: {"id": 2}}
