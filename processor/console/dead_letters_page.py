"""The dead-letter page: grouped by consumer and cause, filtered, replayed or purged from a form.

The same filter (`processor.ops.dead_letter_filter`) picks the letters for the listing, the dry
run and the act, so a dry run's count is what the act then touches (less any that changed in
between). Replay and purge are recorded in the audit with the message ids they touched.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from processor.console.audit_page import done_act
from processor.console.web import CONSOLE, SESSION, form_text, render
from processor.ops import audit
from processor.ops import dead_letters as deadletters
from processor.ops.dead_letter_filter import Filter
from processor.ops.dead_letters import DeadLetter
from processor.registry import CONSUMERS

SHOWN = 200
FIELDS = ("consumer", "reason", "since", "until", "order")


def _moment(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


def _chosen(values: Any, ids: frozenset[str] | None = None) -> tuple[list[str], Filter]:
    names = [c.name for c in CONSUMERS]
    consumer = form_text(values, "consumer")
    order = form_text(values, "order")
    matching = Filter(
        reason=form_text(values, "reason") or None,
        since=_moment(form_text(values, "since")),
        until=_moment(form_text(values, "until")),
        order=int(order) if order.isdigit() and len(order) < 19 else None,
        message_ids=ids,
    )
    return ([consumer] if consumer in names else names), matching


async def _matching(
    request: web.Request, consumers: list[str], matching: Filter
) -> list[DeadLetter]:
    console = request.app[CONSOLE]
    found: list[DeadLetter] = []
    async with console.broker.channel() as channel:
        for consumer in consumers:
            letters = await deadletters.peek(channel, console.deps.settings.topology, consumer)
            found += [x for x in letters if x.matches(matching)]
    return found


async def page(
    request: web.Request, note: str = "", status: int = 200, values: Any = None
) -> web.Response:
    values = request.query if values is None else values
    consumers, matching = _chosen(values)
    letters = await _matching(request, consumers, matching)
    groups = Counter((x.consumer, x.reason, x.summary()["error_type"] or "-") for x in letters)
    async with request.app[CONSOLE].pool.acquire() as conn:
        done = await done_act(conn, request.query.get("done", ""))
    return render(
        request,
        "dead_letters.html",
        status,
        letters=[x.summary() | {"orders": sorted(x.order_ids)} for x in letters[:SHOWN]],
        total=len(letters),
        groups=sorted(groups.items()),
        values={k: form_text(values, k) for k in FIELDS},
        consumers=[c.name for c in CONSUMERS],
        note=note,
        done=done,
    )


async def act(request: web.Request) -> web.Response:
    form = await request.post()
    ids = frozenset(str(v) for v in form.getall("ids", []) if isinstance(v, str)) or None
    consumers, matching = _chosen(form, ids)
    what = form_text(form, "do")
    if what not in ("dry-run", "replay", "purge"):
        return await page(request, "Choose dry run, replay or purge.", 400, form)
    if what == "dry-run" or (what == "purge" and form_text(form, "confirm") != "yes"):
        count = len(await _matching(request, consumers, matching))
        text = f"Dry run: {count} dead letter(s) match; nothing was changed."
        if what == "purge":
            text = f"Purge deletes {count} dead letter(s) for good: tick 'confirm' and purge again."
        return await page(request, text, 200, form)
    done = await _act(request, what, consumers, matching)
    if not done:
        return await page(request, f"No dead letter matched: nothing to {what}.", 409, form)
    counts = ", ".join(f"{c}: {len(x)}" for c, x in done.items())
    act_ = audit.Act(
        request[SESSION].operator,
        "console",
        f"dead_letters.{what}",
        f"{counts} ({len(ids) if ids else 'all'} chosen)",
        () if matching.order is None else (matching.order,),
        [m for x in done.values() for m in x if m],
    )
    async with request.app[CONSOLE].pool.acquire() as conn:
        raise web.HTTPSeeOther(f"/dead-letters?done={await audit.record(conn, act_)}")


async def _act(
    request: web.Request, what: str, consumers: list[str], matching: Filter
) -> dict[str, list[str | None]]:
    console = request.app[CONSOLE]
    topology = console.deps.settings.topology
    done: dict[str, list[str | None]] = {}
    async with console.broker.channel(publisher_confirms=True, on_return_raises=True) as channel:
        for consumer in consumers:
            ids: list[str | None]
            if what == "replay":
                ids = await deadletters.replay(channel, topology, consumer, matching=matching)
            else:
                ids = await deadletters.purge(channel, topology, consumer, matching=matching)
            if ids:
                done[consumer] = ids
    return done
