"""`python -m processor unrouted list|move` against a real broker: what waits, and what moves."""

from __future__ import annotations

import argparse
import json

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from processor.commands import unrouted
from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
Channel = aio_pika.abc.AbstractChannel


def command(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    unrouted.add_arguments(parser)
    return parser.parse_args(argv)


async def post(ingress: Client, event_type: str, **changes: str) -> str:
    body = order("purchase_order", **changes)
    webhook = form(body, recipient="buyer", event_type=event_type, order_group_id=4651002)
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=webhook, headers=FORM_HEADERS)
    assert response.status == 202
    message_id: str = (await response.json())["message_id"]
    return message_id


async def parked(amqp: Channel, settings: ProcessorSettings, n: int) -> None:
    """Wait until exactly `n` messages are ready in unrouted (none held by a consumer)."""

    async def there() -> bool:
        return await queue_depth(amqp, settings.topology.unrouted) == n

    await eventually(there)


async def test_a_type_nobody_consumes_is_listed_without_its_body_and_left_in_place(
    ingress: Client,
    amqp: Channel,
    processor_settings: ProcessorSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = [await post(ingress, "ticket_teleported", oid=f"OID-{n}") for n in range(3)]
    await parked(amqp, processor_settings, 3)
    capsys.readouterr()  # the ingress' logs so far

    assert await unrouted.main(command("list", "--limit", "2"), processor_settings) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == f"{processor_settings.topology.unrouted}: 3 message(s), showing 2"
    rows = [line.split("\t") for line in listed[2:]]
    assert [(key, taker, mid) for key, taker, mid, _ in rows] == [
        ("buyer.ticket_teleported", "-", ids[0]),
        ("buyer.ticket_teleported", "-", ids[1]),
    ]
    assert json.loads(rows[0][3])["event_type"] == "ticket_teleported"
    assert "Gotham" not in "\n".join(listed)  # the body holds names; only headers are shown
    await parked(amqp, processor_settings, 3)  # listing held them; they are all back

    for _ in range(2):  # a second pass finds them all again: nothing looped, nothing lost
        assert await unrouted.main(command("move"), processor_settings) == 0
        assert "moved 0 to their consumers; left 3" in capsys.readouterr().out
        await parked(amqp, processor_settings, 3)  # handed back as the command's channel closes


async def test_a_webhook_accepted_before_migrate_moves_to_its_consumer_as_it_was(
    ingress: Client,
    amqp: Channel,
    processor_settings: ProcessorSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No queue is declared yet (migrate has not run): both wait in unrouted.
    accepted = await post(ingress, "order_accepted")
    await post(ingress, "ticket_teleported")
    await parked(amqp, processor_settings, 2)
    original = await (await amqp.get_queue(processor_settings.topology.unrouted)).get(timeout=5)
    assert original is not None
    await original.nack(requeue=True)

    assert await unrouted.main(command("move"), processor_settings) == 0
    assert "moved 1 to their consumers; left 1 with no consumer" in capsys.readouterr().out
    await parked(amqp, processor_settings, 1)

    queue = processor_settings.topology.consumer_queue("buyer.order_accepted")
    moved = await (await amqp.get_queue(queue)).get(timeout=5)
    assert moved is not None
    assert moved.message_id == accepted == original.message_id
    assert moved.routing_key == "buyer.order_accepted"
    assert moved.body == original.body
    assert moved.headers is not None
    assert original.headers is not None
    webhook_headers = {"recipient", "event_type", "order_group_id", "received_at"}
    assert {k: v for k, v in moved.headers.items() if not k.startswith("x-")} == {
        k: v for k, v in original.headers.items() if not k.startswith("x-")
    }
    assert webhook_headers <= set(moved.headers)
    await moved.ack()
    remaining = await (await amqp.get_queue(processor_settings.topology.unrouted)).get(timeout=5)
    assert remaining is not None
    assert remaining.routing_key == "buyer.ticket_teleported"
    await remaining.nack(requeue=True)
