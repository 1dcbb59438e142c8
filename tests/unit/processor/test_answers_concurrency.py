"""A batch's TEvo answers are fetched at once, never more than `TEVO_API_CONCURRENCY` at a time."""

from __future__ import annotations

import asyncio
from typing import Any

from processor.errors import UpstreamUnavailable
from processor.handler import Deps
from processor.settings import ProcessorSettings


class CountingApi:
    """Answers every order after a few turns of the loop; counts the calls in flight."""

    def __init__(self, down: frozenset[int] = frozenset()) -> None:
        self.down = down
        self.running = 0
        self.most = 0

    async def get_order(self, order_id: int) -> dict[str, Any] | None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            for _ in range(5):
                await asyncio.sleep(0)  # other calls may start meanwhile
            if order_id in self.down:
                raise UpstreamUnavailable("503")
            return {"id": order_id}
        finally:
            self.running -= 1


async def test_answers_are_fetched_concurrently_up_to_the_bound() -> None:
    api = CountingApi()
    deps, failed = await _deps(api, 3).answered(range(1, 11))
    assert deps.answers == {n: {"id": n} for n in range(1, 11)}
    assert not failed
    assert api.most == 3


async def test_one_order_tevo_cannot_answer_for_fails_alone() -> None:
    api = CountingApi(down=frozenset({4}))
    deps, failed = await _deps(api, 8).answered([3, 4, 5, 4])
    assert set(deps.answers) == {3, 5}
    assert set(failed) == {4}
    assert isinstance(failed[4], UpstreamUnavailable)


def _deps(api: CountingApi, concurrency: int) -> Deps:
    return Deps(ProcessorSettings(api_concurrency=concurrency), tevo_api=api)
