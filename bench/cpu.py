"""The CPU each process of a benchmark used, read from /proc: per role, between two moments.

A role is a name and a way to find its processes now: a service and everything under it, the
RabbitMQ node that listens on the AMQP port, or the Postgres processes that work for the bench's
database. Postgres starts a backend per connection and a pool may open one mid-run, so the
meter keeps each process's own start value and counts a process first seen later from zero;
`sample()` during a run keeps the CPU of a backend that ends before the run does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

Finder = Callable[[], list[int]]
_TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and every process under it, from /proc/<pid>/task/*/children."""
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending.extend(int(child) for child in children.read_text().split())
    return pids


def cpu_of(pid: int) -> float | None:
    """User plus system seconds of one process so far, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU that `pid` and the processes under it have used so far."""
    if pid is None:
        return None
    used = [cpu for member in process_tree(pid) if (cpu := cpu_of(member)) is not None]
    return sum(used) if used else None


def listener_pid(port: int) -> int | None:
    """The process holding the listening TCP socket on `port` (any address), if it runs here."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rpartition(":")[2], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(fd_dir.parent.name)
    return None


def tree_of(pid: int | None) -> Finder:
    """A role: `pid` and its descendants (a service and its workers, or the broker's VM)."""
    return lambda: process_tree(pid) if pid is not None else []


def postgres_for(port: int, database: str) -> Finder:
    """A role: the cluster's background processes and the backends serving `database`.

    A backend's title is `postgres: <cluster>: <user> <database> <client> <state>`; backends of
    other databases (other people's tests on a shared server) are left out. The background
    processes (WAL writer, checkpointer, ...) serve everyone and are counted whole.
    """
    postmaster = listener_pid(port)

    def find() -> list[int]:
        if postmaster is None:
            return []
        chosen = [postmaster]
        for pid in process_tree(postmaster)[1:]:
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            client = "(" in title or "[local]" in title
            vacuum = "autovacuum worker" in title
            if f" {database} " in f"{title} " or not (client or vacuum):
                chosen.append(pid)
        return chosen

    return find


class CpuMeter:
    """CPU seconds per role since `start()`; call `sample()` now and then during a long run."""

    def __init__(self, roles: dict[str, Finder]) -> None:
        self._roles = roles
        self._first: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._first = {role: self._read(find) for role, find in self._roles.items()}
        self._last = {role: dict(seen) for role, seen in self._first.items()}

    def sample(self) -> None:
        for role, find in self._roles.items():
            self._last[role].update(self._read(find))

    def seconds(self) -> dict[str, float]:
        """Each role's CPU seconds since `start()` (a process new since then from zero)."""
        self.sample()
        return {
            role: sum(cpu - self._first[role].get(pid, 0.0) for pid, cpu in last.items())
            for role, last in self._last.items()
        }

    @staticmethod
    def _read(find: Finder) -> dict[int, float]:
        return {pid: cpu for pid in find() if (cpu := cpu_of(pid)) is not None}


def per_item_us(seconds: dict[str, float], items: int) -> dict[str, float | None]:
    """CPU µs per item (webhook, message) of each role, and of all roles together."""
    if not items:
        return {f"{role}_cpu_us": None for role in [*seconds, "all"]}
    figures: dict[str, float | None] = {
        f"{role}_cpu_us": used * 1e6 / items for role, used in seconds.items()
    }
    figures["all_cpu_us"] = sum(seconds.values()) * 1e6 / items
    return figures
