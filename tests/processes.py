"""The services as real processes for tests: `python -m ingress` and `python -m processor`.

Each process logs JSON to a file of its own, which tests read for lifecycle events
(`processor.started`, `processor.stopped`) and outcomes (`message.acked` for duplicates; an
applied message's line is at debug).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conftest import eventually

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_env(settings: dict[str, str]) -> dict[str, str]:
    """This environment without any TEVO_* of the developer's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEVO_")}
    env.update({"TEVO_LOG_FORMAT": "json", "TEVO_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"})
    env.update(settings)
    return env


@dataclass
class Service:
    """One `python -m <module> [args]` process; start, signal, restart, read its log."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)
    _log_offset: int = 0

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def signal(self, sig: signal.Signals, *, wait: float = 30.0) -> int:
        """Send `sig` and wait for the exit status."""
        assert self.process is not None, f"{self.name} was never started"
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout=wait)

    async def wait(self, within: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit status."""
        assert self.process is not None, f"{self.name} was never started"
        return await asyncio.wait_for(self.process.wait(), timeout=within)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go: for fixture teardown."""
        if not self.running:
            return
        try:
            await self.signal(signal.SIGTERM, wait=20)
        except TimeoutError:
            await self.signal(signal.SIGKILL)

    def events(self, since_start: bool = True) -> list[dict[str, Any]]:
        """The JSON log lines of this run (or of every run), parsed."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset if since_start else 0)
            lines = log.read().decode(errors="replace").splitlines()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue  # a traceback or a library's plain line
        return [p for p in parsed if isinstance(p, dict)]

    def logged(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def outcomes(service: Service) -> Counter[str]:
    """`message.acked` outcomes over every run of a processor: applied, duplicate, ..."""
    counted: Counter[str] = Counter()
    for event in service.events(since_start=False):
        if event.get("event") == "message.acked":
            counted[str(event.get("outcome"))] += 1
        elif event.get("event") == "message.dead_lettered":
            counted["dead_lettered"] += 1
        elif event.get("event") == "message.retry_scheduled":
            counted["retried"] += 1
    return counted


def duplicates_by_message(service: Service) -> Counter[str]:
    """How many copies of each message_id a processor absorbed as duplicates, over every run."""
    counted: Counter[str] = Counter()
    for event in service.events(since_start=False):
        if event.get("event") == "message.acked" and event.get("outcome") == "duplicate":
            counted[str(event.get("message_id"))] += 1
    return counted


async def readyz(base_url: str) -> int:
    """The status of the service's `/readyz` at `base_url`."""
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/readyz") as answer:
        return answer.status


@contextlib.asynccontextmanager
async def serving(ingress: Service, processor: Service, base_url: str) -> AsyncIterator[None]:
    """The processor, then the ingress (at `base_url`), started; inside, the ingress is ready
    and the processor consumes; both stopped on the way out, whatever happened."""

    async def up() -> bool | None:
        try:
            answered = await readyz(base_url) == 200
        except aiohttp.ClientError:
            return None
        return (answered and processor.logged("processor.started")) or None

    try:
        await processor.start()
        await ingress.start()
        await eventually(up, within=90, interval=0.1)
        yield
    finally:
        for service in (ingress, processor):
            await service.stop()
