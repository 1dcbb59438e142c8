"""`TEVO_INGRESS_WORKERS=2`: two processes on one port publish every webhook, `/metrics` counts
all of them whichever worker answers, and SIGTERM stops both gracefully."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import aiohttp
import pytest

from contracts import Topology
from tests.conftest import Services
from tests.integration.conftest import TOKEN, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order
from tests.processes import Service, free_port, service_env

pytestmark = pytest.mark.integration

WEBHOOKS = 40


@pytest.fixture
async def ingress_workers(
    services: Services, namespace: str, tmp_path: Path
) -> AsyncIterator[tuple[Service, str]]:
    port = free_port()
    env = service_env(
        {
            "TEVO_AMQP_URL": services.amqp_url,
            "TEVO_NAMESPACE": namespace,
            "TEVO_WEBHOOK_TOKENS": TOKEN,
            "TEVO_INGRESS_HOST": "127.0.0.1",
            "TEVO_INGRESS_PORT": str(port),
            "TEVO_INGRESS_WORKERS": "2",
        }
    )
    service = Service("ingress", ["-m", "ingress"], env, tmp_path / "ingress.log")
    await service.start()
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        await service.stop()


async def _get(url: str) -> tuple[int, str]:
    # A new connection each time, so the kernel may hand it to either worker.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        try:
            async with http.get(url) as response:
                return response.status, await response.text()
        except aiohttp.ClientConnectionError:
            return 0, ""


async def test_two_workers_publish_all_count_all_and_stop_cleanly(
    ingress_workers: tuple[Service, str], amqp: aio_pika.abc.AbstractChannel, namespace: str
) -> None:
    service, base = ingress_workers

    async def both_ready() -> bool:
        # Each worker has a connection of its own: /readyz would answer for one at random.
        return [e["event"] for e in service.events()].count("broker.connected") == 2

    await eventually(both_ready, within=30)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        for n in range(WEBHOOKS):
            data = form(order(id=70_000_000 + n), event_type="worker_test")
            async with http.post(
                f"{base}/webhooks/tevo/{TOKEN}", data=data, headers=FORM_HEADERS
            ) as r:
                assert r.status == 202, await r.text()
    unrouted = Topology(namespace).unrouted_queue().name
    assert await queue_depth(amqp, unrouted) == WEBHOOKS
    for _ in range(4):  # whichever worker answers, it counts both workers' webhooks
        status, text = await _get(f"{base}/metrics")
        counted = re.findall(
            r'tevo_webhooks_received_total\{[^}]*event_type="worker_test"[^}]*status="202"\} (\S+)',
            text,
        )
        assert status == 200
        assert sum(float(c) for c in counted) == WEBHOOKS
    assert await service.signal(signal.SIGTERM) == 0, service.tail()
    assert service.logged("ingress.workers_started")
    assert not service.logged("ingress.worker_died")


async def test_a_worker_that_dies_takes_the_ingress_down(
    ingress_workers: tuple[Service, str],
) -> None:
    service, _ = ingress_workers

    async def worker_pids() -> list[int] | None:
        # Once both serve: a worker stopped while still starting has no handler for SIGTERM.
        events = [e["event"] for e in service.events()]
        started = [e for e in service.events() if e["event"] == "ingress.workers_started"]
        return started[0]["pids"] if events.count("broker.connected") == 2 else None

    first, second = await eventually(worker_pids, within=30)
    os.kill(first, signal.SIGKILL)
    assert await service.wait(within=30) == 1, service.tail()
    died = [e for e in service.events() if e["event"] == "ingress.worker_died"]
    assert [(e["pid"], e["exit_code"]) for e in died] == [(first, -signal.SIGKILL)]
    stopped = [e for e in service.events() if e["event"] == "ingress.workers_stopped"]
    assert stopped[0]["exit_codes"][1] == 0  # the other one was stopped, gracefully
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)
