"""Reconciliation's pure parts: telling an order's ids, the command line, and the pass loop."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import pytest

from processor.commands import reconcile as command
from processor.errors import UpstreamRejected, UpstreamUnavailable
from processor.ops.reconcile import order_ids


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"id": 10324712, "order_group_id": 4606857}, (10324712, 4606857)),
        ({"id": "10324712", "order_group_id": "4606857"}, (10324712, 4606857)),
        ({"id": 10324712, "order_group": {"id": 4606857}}, (10324712, 4606857)),
        ({"id": 10324712, "oid": "4606857-10324712"}, (10324712, 4606857)),
        ({"id": 10324712, "order_group_id": None, "oid": "4606857-10324712"}, (10324712, 4606857)),
        ({"id": 10324712, "oid": "R1B-F6M-M9J"}, None),
        ({"id": 10324712}, None),
        ({"id": "4606857-10324712", "order_group_id": 4606857}, None),  # the body's id must parse
        ({"order_group_id": 4606857}, None),
        ({"id": True, "order_group_id": 4606857}, None),
    ],
)
def test_order_ids_are_told_leniently(order: dict[str, Any], expected: object) -> None:
    assert order_ids(order) == expected


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(exit_on_error=False)
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_every_is_once_by_default_and_five_minutes_when_bare() -> None:
    assert parse().every is None
    assert parse("--every").every == 5.0
    assert parse("--every", "0.5").every == 0.5


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "soon"])
def test_every_refuses_what_is_not_a_positive_number(bad: str) -> None:
    with pytest.raises(argparse.ArgumentError):
        parse("--every", bad)


class Passes:
    """A pass that fails as scripted and stops the loop after `until` calls."""

    def __init__(self, stop: asyncio.Event, *failures: Exception | None, until: int = 1) -> None:
        self.stop, self.failures, self.until, self.calls = stop, list(failures), until, 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls >= self.until:
            self.stop.set()
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


async def test_once_is_one_pass_and_its_status() -> None:
    stop = asyncio.Event()
    assert await command.repeat(Passes(stop), None, stop) == 0
    failing = Passes(stop, UpstreamUnavailable("HTTP 503 after 3 attempt(s)"))
    assert await command.repeat(failing, None, stop) == 1
    assert failing.calls == 1


async def test_every_keeps_going_through_failed_passes_until_stopped() -> None:
    stop = asyncio.Event()
    passes = Passes(stop, UpstreamUnavailable("down"), UpstreamRejected("HTTP 400"), until=3)
    assert await asyncio.wait_for(command.repeat(passes, 0.01, stop), timeout=5) == 0
    assert passes.calls == 3


async def test_a_stop_ends_the_wait_between_passes_at_once() -> None:
    stop = asyncio.Event()
    passes = Passes(stop, until=1)
    # An hour between passes: the stop set during the first pass must not wait for it.
    assert await asyncio.wait_for(command.repeat(passes, 3600, stop), timeout=5) == 0
    assert passes.calls == 1
