"""The faults a real broker meets: RabbitMQ restarting while the processor starts, a memory alarm
with a message that must be dead-lettered ahead of hundreds of good ones, and a Postgres outage
longer than the retry budget. Each prints accepted, applied, dead-lettered and duplicated counts.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.faults.conftest import CONSUMER, Stack, exactly_once
from tests.faults.load import Load, accepted_at_least, applied_rows
from tests.faults.services import PrivateRabbit
from tests.faults.test_faults import STEP, rabbitmq_stopped, report, under_load
from tests.integration.conftest import eventually
from tests.payloads import FORM_HEADERS, form, order
from tests.processes import Service

pytestmark = pytest.mark.faults

GOOD = 300  # good webhooks behind the poisoned one: more than one prefetch window (128)
OUTAGE = 25.0  # seconds without Postgres: five times the retry budget of the test below


@asynccontextmanager
async def memory_alarm(rabbit: PrivateRabbit) -> AsyncIterator[None]:
    """A memory alarm for the block: RabbitMQ blocks every connection that publishes."""
    await rabbit.ctl("set_vm_memory_high_watermark", "0.0000001")
    try:
        yield
    finally:
        await rabbit.ctl("set_vm_memory_high_watermark", "0.4")


async def test_rabbitmq_restarts_while_the_processor_starts(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    rabbit, processor = stack.private.rabbit, stack.processor
    await processor.stop()
    # 1. the broker is down when the processor starts, and comes back
    async with rabbitmq_stopped(rabbit):
        await processor.start()
        await eventually(lambda: _logged(processor, "http.listening"), within=60)
        await asyncio.sleep(2)  # it finds no broker, and tries again
    await _consumes_again(stack)
    # 2. the node dies (SIGKILL: no goodbye) once connected, while the queues are declared
    await processor.start()
    await eventually(lambda: _logged(processor, "processor.connected"), within=60, interval=0.01)
    rabbit.kill()
    await rabbit.up()
    await _consumes_again(stack)
    # 3. the broker restarts once the processor consumes
    await processor.start()
    await eventually(lambda: _logged(processor, "processor.started"), within=60)
    async with rabbitmq_stopped(rabbit):
        await asyncio.sleep(1)
    await _consumes_again(stack, stop=False)
    await _migrate_waits_for_the_broker(stack)
    async with under_load(stack) as load:
        pass
    counts = await exactly_once(stack, load)
    report(capsys, "RabbitMQ restarts while the processor starts", counts)
    assert processor.running, processor.tail()


async def _consumes_again(stack: Stack, *, stop: bool = True) -> None:
    """The same process consumes again, no restart of its own; then stop it for the next go."""
    processor = stack.processor
    await eventually(lambda: _consuming(stack), within=90, interval=0.5)
    assert processor.running, processor.tail()
    assert processor.logged("processor.broker_lost"), "the fault came too late to be one"
    if stop:
        await processor.stop()


async def test_memory_alarm_with_a_poisoned_message_ahead(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    await stack.processor.stop()
    # A body that is no order: its consumer dead-letters it, which means publishing a copy.
    assert await _post(stack, form({"poisoned": True})) == 202
    load = Load(stack.webhook_url)
    await load.run(asyncio.Event(), limit=GOOD * 10 // 9 + 1)  # one order in ten is a 401
    async with memory_alarm(stack.private.rabbit):
        # nothing routes this one (no consumer takes its type): a probe of the ingress' confirms
        probe = form(order(id=1), event_type="fault_probe")
        assert await _post(stack, probe) == 503
        await stack.processor.start()
        conn = await stack.db()
        try:

            async def all_applied() -> bool | None:
                rows = await applied_rows(conn, load.accepted)
                return set(rows["sales"]) >= load.accepted or None

            await eventually(all_applied, within=90, interval=0.5)
        finally:
            await conn.close()
        during_alarm = len(load.accepted)
        assert stack.processor.running, stack.processor.tail()
    counts = await exactly_once(stack, load, dead=1)
    counts["applied_during_alarm"] = during_alarm
    report(capsys, "memory alarm, poisoned message ahead of the good ones", counts)


@pytest.mark.stack_env(TEVO_RETRY_DELAYS="1,2", TEVO_RETRY_MAX_ATTEMPTS="3")
async def test_postgres_down_longer_than_the_retry_budget(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    postgres = stack.private.postgres
    async with under_load(stack) as load:
        await postgres.stop("fast")
        try:
            started = asyncio.get_running_loop().time()
            # the ingress does not need Postgres: it keeps accepting
            await eventually(accepted_at_least(load, len(load.accepted) + STEP), within=30)
            readiness = await eventually(lambda: _paused(stack), within=30, interval=0.5)
            rest = OUTAGE - (asyncio.get_running_loop().time() - started)
            await asyncio.sleep(max(rest, 0))
        finally:
            await postgres.start()
    counts = await exactly_once(stack, load)
    counts["paused_seconds"] = round(await _paused_seconds(stack))
    report(capsys, "Postgres down longer than the retry budget", counts)
    assert readiness.get("paused", "").startswith("database"), readiness
    assert counts["retried"] == 0, counts  # an outage spends no message's attempts
    assert counts["paused_seconds"] >= OUTAGE / 2, counts
    assert stack.processor.running, stack.processor.tail()


async def _post(stack: Stack, body: str) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(stack.webhook_url, data=body, headers=FORM_HEADERS) as response,
    ):
        return response.status


async def _logged(service: Service, event: str) -> bool | None:
    return service.logged(event) or None


async def _consuming(stack: Stack) -> bool | None:
    """The processor consumes its queue again: the broker lists a consumer on it."""
    queue = stack.topology.consumer_queue(CONSUMER)
    listing = await stack.private.rabbit.ctl("list_queues", "-q", "name", "consumers")
    for line in listing.splitlines():
        name, _, consumers = line.partition("\t")
        if name == queue and int(consumers or 0) > 0:
            return True
    return None


async def _paused(stack: Stack) -> dict[str, str] | None:
    try:
        status, body = await stack.processor_get("/readyz")
    except aiohttp.ClientError:
        return None
    ready: dict[str, str] = json.loads(body)
    return ready if status == 503 and ready.get("paused") else None


async def _paused_seconds(stack: Stack) -> float:
    _, text = await stack.processor_get("/metrics")
    found = re.findall(r"^tevo_processor_paused_seconds_total\{[^}]*\} (\S+)$", text, re.M)
    return sum(float(value) for value in found)


async def _migrate_waits_for_the_broker(stack: Stack) -> None:
    """`migrate --wait` started while the broker is down finishes once it is back."""
    log = stack.processor.log_path.with_name("migrate-wait.log")
    migrate = Service(
        "migrate", ["-m", "processor", "migrate", "--wait", "90"], stack.processor.env, log
    )
    async with rabbitmq_stopped(stack.private.rabbit):
        await migrate.start()
        await asyncio.sleep(3)
        assert migrate.running, migrate.tail()
    assert await migrate.wait(within=90) == 0, migrate.tail()
