"""The `python -m processor` subcommands: one module each, listed here.

A command module defines `NAME`, `HELP`, `add_arguments(parser)` and
`async def main(args, settings) -> int` (the exit status).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any, Protocol, cast

from processor.commands import (
    console,
    dead_letters,
    generate,
    migrate,
    operators,
    privacy,
    reconcile,
    retention,
    review,
    run,
    unrouted,
)
from processor.settings import ProcessorSettings


class Command(Protocol):
    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    @property
    def main(
        self,
    ) -> Callable[[argparse.Namespace, ProcessorSettings], Coroutine[Any, Any, int]]: ...


def _command(module: ModuleType) -> Command:
    return cast(Command, module)


COMMANDS: tuple[Command, ...] = (
    _command(run),
    _command(migrate),
    _command(dead_letters),
    _command(unrouted),
    _command(reconcile),
    _command(review),
    _command(console),
    _command(operators),
    _command(retention),
    _command(privacy),
    _command(generate),
)
DEFAULT = run.NAME
