"""`privacy export` and `erase` on real stores: after an erasure, a dump of the whole database
and every message of the namespace's queues hold the person's e-mail zero times, the invoices
are unchanged, and a sale TEvo sends again still settles as before.

The e-mail is stored as `Zoë.Straße@Example.com` and asked for as `ZOË.STRASSE@example.com`:
they are the same address under Unicode casefold, and not under lower().
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts import envelope as h
from processor.commands import privacy
from processor.ops.pii import fold
from processor.registry import CONSUMERS
from processor.runtime.topology import all_queues
from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, count, eventually, queue_depth
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
STORED = "Zoë.Straße@Example.com"
ASKED = "ZOË.STRASSE@example.com"
NAME = "Zoë Quinton-Marsh"
PHONE = "+1 555 0199 777"
ORDER_ID = 10324800


def _sale() -> str:
    body = order("order_client_approved")
    body["client"] = {
        **body["client"],
        "name": NAME,
        "email_addresses": [{"address": STORED}],
        "phone_numbers": [{"number": PHONE}],
    }
    body["buyer"] = {**body["buyer"], "name": NAME}
    return form(body)


def _spellings(text: str) -> list[str]:
    """Every way the person appears in `text`: any case, casefolded or lowered."""
    folded, lowered = text.casefold(), text.lower()
    needles = {fold(STORED), STORED.lower(), fold(ASKED), fold(NAME), fold(PHONE)}
    return [n for n in needles if n in folded or n in lowered]


async def _post(ingress: Client, data: str) -> str:
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=data, headers=FORM_HEADERS)
    assert response.status == 202, await response.text()
    message_id: str = (await response.json())["message_id"]
    return message_id


async def _held(
    amqp: aio_pika.abc.AbstractChannel, settings: ProcessorSettings, ingress: Client
) -> None:
    """A dead letter that mentions the person (in its body and its error), and an unrouted
    webhook with their order."""
    dead = settings.topology.dead_letter_queue("seller.order_created")
    headers: dict[str, Any] = {h.HEADER_ERROR_MESSAGE: f"client {ASKED.lower()} refused"}
    body = json.dumps({"client": {"email_addresses": [{"address": STORED.upper()}]}}).encode()
    await amqp.default_exchange.publish(aio_pika.Message(body, headers=headers), dead)
    unrouted = form(order("order_client_approved"), event_type="client_updated_profile")
    await _post(
        ingress, unrouted.replace("Jordan.Avery%40example.com", "zo%C3%AB.strasse%40EXAMPLE.com")
    )
    await eventually(lambda: _depth_is(amqp, dead, 1))
    await eventually(lambda: _depth_is(amqp, settings.topology.unrouted, 1))


async def _depth_is(channel: aio_pika.abc.AbstractChannel, queue: str, n: int) -> bool:
    return await queue_depth(channel, queue) == n


async def _every_message(amqp: aio_pika.abc.AbstractChannel, settings: ProcessorSettings) -> str:
    """The bodies and headers of every message of the namespace's queues (taken and requeued)."""
    seen = []
    for spec in all_queues(settings.topology, CONSUMERS, settings.retry_delays):
        queue = await amqp.get_queue(spec.name)
        held = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            held.append(message)
            seen.append(message.body.decode(errors="replace") + repr(message.headers))
        for message in held:
            await message.nack(requeue=True)
    return "\n".join(seen)


async def _dump(database_url: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "pg_dump", "--dbname", database_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


async def _run(settings: ProcessorSettings, capsys: pytest.CaptureFixture[str], **args: Any) -> Any:
    namespace = argparse.Namespace(email=None, customer=None, by="dpo@example.org", yes=True)
    for key, value in args.items():
        setattr(namespace, key, value)
    assert await privacy.main(namespace, settings) == 0
    out = capsys.readouterr().out  # the document, between the log lines of the services
    return json.loads(out[out.index("{\n") : out.rindex("\n}") + 2])


async def test_erase_leaves_the_email_nowhere_and_the_invoices_as_they_were(
    processor: ProcessorSettings,
    ingress: Client,
    db: asyncpg.Connection,
    amqp: aio_pika.abc.AbstractChannel,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sale = _sale()
    message_id = await _post(ingress, sale)
    await eventually(lambda: count(db, "SELECT count(*) FROM pos.invoices"))
    await _held(amqp, processor, ingress)
    invoices = [dict(r) for r in await db.fetch("SELECT * FROM pos.invoices ORDER BY id")]
    lines = [dict(r) for r in await db.fetch("SELECT * FROM pos.invoice_lines ORDER BY id")]
    assert _spellings(await _dump(processor.database_url))  # the test can fail: it is there before

    exported = await _run(processor, capsys, action="export", email=ASKED)
    assert [c["email"] for c in exported["customers"]] == [STORED]
    assert [s["tevo_order_id"] for s in exported["sales"]] == [ORDER_ID]
    assert exported["invoices"][0]["lines"]
    assert sorted(m["queue"].rsplit(".", 1)[-1] for m in exported["messages"]) == [
        "dead",
        "unrouted",
    ]

    erased = await _run(processor, capsys, action="erase", email=ASKED)
    assert erased["records"]["pos.customers"] == [c["id"] for c in exported["customers"]]
    assert len([q for q, ids in erased["messages_masked"].items() if ids]) == 2
    assert _spellings(await _dump(processor.database_url)) == []
    assert _spellings(await _every_message(amqp, processor)) == []
    assert [dict(r) for r in await db.fetch("SELECT * FROM pos.invoices ORDER BY id")] == invoices
    assert [dict(r) for r in await db.fetch("SELECT * FROM pos.invoice_lines ORDER BY id")] == lines

    acts = await db.fetch("SELECT action, operator, via, order_ids FROM pos.audit ORDER BY id")
    assert all(a["via"] == "cli" and a["order_ids"] == [ORDER_ID] for a in acts)
    assert [(a["action"], a["operator"]) for a in acts] == [
        ("privacy.export", "dpo@example.org"),
        ("privacy.erase", "dpo@example.org"),
    ]

    # TEvo sends the sale again, after retention forgot its message id
    await db.execute("DELETE FROM pos.inbox")
    assert await _post(ingress, sale) == message_id
    await eventually(lambda: count(db, "SELECT count(*) FROM pos.inbox"))
    assert [dict(r) for r in await db.fetch("SELECT * FROM pos.invoices ORDER BY id")] == invoices
    assert await count(db, "SELECT count(*) FROM pos.customers") == 1
    assert await db.fetchval("SELECT status FROM pos.sales") == "invoiced"
    # the body came again, but it is a version the sale has: nothing of it is stored anew
    assert _spellings(await _dump(processor.database_url)) == []

    # Again: nothing left to find, and it says so without failing
    again = await _run(processor, capsys, action="erase", email=ASKED)
    assert again["records"]["pos.customers"] == []
    assert again["messages_masked"] == {}


async def test_erase_without_yes_changes_nothing(
    processor_settings: ProcessorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(action="erase", email=ASKED, customer=None, by=None, yes=False)
    assert await privacy.main(args, processor_settings) == 2
    assert "--yes" in capsys.readouterr().err


async def test_an_unknown_customer_is_a_clear_error(
    processor_settings: ProcessorSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(action="export", email=None, customer=999, by=None, yes=False)
    assert await privacy.main(args, processor_settings) == 1
    assert "no customer 999" in capsys.readouterr().err


async def test_two_operators_erasing_one_person_at_once_both_succeed(
    processor: ProcessorSettings,
    ingress: Client,
    db: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _post(ingress, _sale())
    await eventually(lambda: count(db, "SELECT count(*) FROM pos.invoices"))
    total = await db.fetchval("SELECT total FROM pos.invoices")

    async def erase(by: str) -> int:
        args = argparse.Namespace(action="erase", email=ASKED, customer=None, by=by, yes=True)
        return await privacy.main(args, processor)

    assert list(await asyncio.gather(erase("first"), erase("second"))) == [0, 0]
    capsys.readouterr()
    assert _spellings(await _dump(processor.database_url)) == []
    acts = await db.fetch("SELECT operator FROM pos.audit WHERE action = 'privacy.erase'")
    assert sorted(a["operator"] for a in acts) == ["first", "second"]
    assert await db.fetchval("SELECT total FROM pos.invoices") == total
