"""How an operator command reports its way through a long job: n of N, and the rate.

The operator logic (dead letters, unrouted, reconcile) takes a `Progress` and tells it the total
once known and each step done; it knows nothing of terminals. `bar` gives the commands a tqdm
bar on stderr, shown only on a terminal, so stdout (and `--json`) stays clean and a log
collector never gets a line per step.
"""

from __future__ import annotations

import sys
from typing import Never, Protocol

from tqdm import tqdm


class Progress(Protocol):
    """The part of `tqdm` the operator logic uses."""

    def reset(self, total: float | None = None) -> None: ...

    def update(self, n: float | None = 1) -> bool | None: ...


class Silent:
    """A `Progress` that reports nothing: the default, and what tests pass."""

    def reset(self, total: float | None = None) -> None:
        del total

    def update(self, n: float | None = 1) -> bool | None:
        del n
        return None


def bar(what: str, unit: str = "message", *, disable: bool | None = None) -> tqdm[Never]:
    """A progress bar on stderr, e.g. `tevo.seller.order_created.dead: 40/120 [12.3 message/s]`.

    `disable=None` shows it on a terminal only; the total comes later, through `reset`.
    """
    return tqdm(
        desc=what,
        unit=f" {unit}",
        file=sys.stderr,
        disable=disable,
        leave=False,
        dynamic_ncols=True,
        bar_format="{desc}: {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}]",
    )
