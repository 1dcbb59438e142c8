"""`python -m processor dead-letters ...` as an operator runs it, against a real dead letter."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
from typing import cast

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts import envelope as h
from processor.commands.dead_letters import ACTIONS
from processor.ops import dead_letters as deadletters
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order
from tests.processes import ROOT, service_env

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
CONSUMER = "seller.order_created"


async def _cli(settings: ProcessorSettings, *args: str) -> tuple[int, str, str]:
    env = service_env(
        {
            "TEVO_AMQP_URL": settings.amqp_url,
            "TEVO_DATABASE_URL": settings.database_url,
            "TEVO_NAMESPACE": settings.namespace,
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "processor",
        "dead-letters",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.usefixtures("processor")
async def test_list_show_replay_purge(
    ingress: Client, processor_settings: ProcessorSettings, amqp: aio_pika.abc.AbstractChannel
) -> None:
    body = order(oid="R-NO-ID")
    del body["id"]
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=form(body), headers=FORM_HEADERS)
    assert response.status == 202
    message_id = (await response.json())["message_id"]
    dead_queue = processor_settings.topology.dead_letter_queue(CONSUMER)

    async def dead(n: int) -> bool | None:
        return await queue_depth(amqp, dead_queue) == n or None

    await eventually(lambda: dead(1), within=20)

    await _list_and_show(processor_settings, message_id)

    await _filters_and_dry_runs(processor_settings, message_id, amqp)

    status, out, _ = await _cli(
        processor_settings, "replay", "--consumer", CONSUMER, "--by", "carol"
    )
    assert status == 0
    assert "replayed 1" in out
    # still no id, so it dies again: once, with a fresh budget, not as a second attempt
    await eventually(lambda: dead(1), within=20)
    (again,) = await deadletters.peek(amqp, processor_settings.topology, CONSUMER)
    assert again.message_id == message_id
    assert again.headers[h.HEADER_ATTEMPTS] == 1

    status, out, _ = await _cli(
        processor_settings, "purge", "--consumer", CONSUMER, "--by", "carol"
    )
    assert status == 0
    assert f"{dead_queue}: purged 1" in out
    assert await queue_depth(amqp, dead_queue) == 0

    db = await asyncpg.connect(processor_settings.database_url)
    try:
        acts = await db.fetch(
            "SELECT operator, via, action, message_ids FROM pos.audit ORDER BY id"
        )
    finally:
        await db.close()
    assert [(a["operator"], a["via"], a["action"]) for a in acts] == [
        ("carol", "cli", "dead_letters.replay"),
        ("carol", "cli", "dead_letters.purge"),
    ]
    assert all(a["message_ids"] == [message_id] for a in acts)


async def _filters_and_dry_runs(
    settings: ProcessorSettings, message_id: str, amqp: aio_pika.abc.AbstractChannel
) -> None:
    """Filters pick the letter or not; a dry run says how many and touches none."""
    dead_queue = settings.topology.dead_letter_queue(CONSUMER)
    status, out, _ = await _cli(
        settings, "list", "--reason", "ContractViolation", "--order", "4606857"
    )
    assert status == 0
    assert message_id in out
    status, out, _ = await _cli(settings, "list", "--reason", "retries_exhausted")
    assert "0 dead letter(s)" in out
    status, out, _ = await _cli(settings, "list", "--since", "2999-01-01")
    assert message_id not in out
    for action in ("replay", "purge"):
        status, out, _ = await _cli(settings, action, "--consumer", CONSUMER, "--dry-run")
        assert status == 0
        assert f"dry run: would {action} 1 dead letter(s) (all)" in out
    status, out, _ = await _cli(settings, "replay", "--dry-run", "--order", "1")
    assert "would replay 0" in out
    status, _, err = await _cli(settings, "list", "--since", "yesterday")
    assert status == 2
    assert "not an ISO 8601 time" in err
    assert await queue_depth(amqp, dead_queue) == 1  # nothing moved


async def _list_and_show(settings: ProcessorSettings, message_id: str) -> None:
    dead_queue = settings.topology.dead_letter_queue(CONSUMER)
    status, out, _ = await _cli(settings, "list")
    assert status == 0
    assert f"{dead_queue}: 1 dead letter(s)" in out
    assert "1 dead letter(s) in " in out
    assert ": 0 dead letter(s)" not in out  # empty queues are left out of the listing
    assert message_id in out
    assert "permanent_failure" in out

    status, out, _ = await _cli(settings, "list", "--json", "--consumer", CONSUMER)
    listed = json.loads(out)[CONSUMER]
    assert listed["count"] == 1
    assert listed["dead_letters"][0]["message_id"] == message_id
    assert listed["dead_letters"][0]["error_type"] == "ContractViolation"

    status, out, _ = await _cli(settings, "show", message_id)
    assert status == 0
    assert "reason: permanent_failure" in out
    assert "R-NO-ID" in out  # the body, for the operator's eyes
    status, _, err = await _cli(settings, "show", "no-such-id")
    assert status == 1
    assert "no dead letter" in err


async def test_a_replay_racing_a_list_replays_every_dead_letter_or_says_what_it_left(
    processor_settings: ProcessorSettings,
) -> None:
    """A `list` takes every dead letter unacked for a moment, then requeues them: a replay that
    runs dry meanwhile must wait for them, not stop early and call it done."""
    topology, total = processor_settings.topology, 300
    async with (
        await aio_pika.connect(processor_settings.amqp_url) as replaying,
        await aio_pika.connect(processor_settings.amqp_url) as listing,
    ):
        channel = await replaying.channel(publisher_confirms=True, on_return_raises=True)
        await declare(channel, topology, CONSUMERS, processor_settings.retry_delays)
        dead = topology.dead_letter_queue(CONSUMER)
        for number in range(total):
            message = aio_pika.Message(b"{}", message_id=f"m{number}", headers={})
            await channel.default_exchange.publish(message, routing_key=dead)
        replay = asyncio.create_task(deadletters.replay(channel, topology, CONSUMER))
        live = topology.consumer_queue(CONSUMER)
        await eventually(lambda: _at_least(channel, live, 10))  # the replay is under way
        listed = await deadletters.peek(await listing.channel(), topology, CONSUMER)
        replayed = await asyncio.wait_for(replay, timeout=60)
        assert listed, "the list ran while the replay had dead letters left to take"
        assert (len(replayed), replayed.left) == (total, 0)
        assert await queue_depth(channel, live) == total
        assert await queue_depth(channel, dead) == 0


async def _at_least(channel: aio_pika.abc.AbstractChannel, queue: str, count: int) -> bool | None:
    return await queue_depth(channel, queue) >= count or None


async def test_a_replay_that_left_dead_letters_says_so_and_exits_non_zero(
    processor_settings: ProcessorSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def partial(*_args: object, **_kwargs: object) -> deadletters.Replayed:
        done = deadletters.Replayed(["m1"])
        done.left = 2
        return done

    monkeypatch.setattr(deadletters, "replay", partial)
    args = argparse.Namespace(limit=None, message_id=None, json=False)
    channel = cast("aio_pika.abc.AbstractChannel", None)  # the stand-in replay never uses it
    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(io.StringIO()):
        status = await ACTIONS["replay"](channel, processor_settings, [CONSUMER], args)
    assert status == 1
    assert f"{CONSUMER}: left 2 dead letter(s)" in out.getvalue()
