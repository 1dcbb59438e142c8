"""The review queue: the sales that need a person, and the CLI's recheck and resolve as buttons.

Two operators on one sale: `resolve` locks the sale and decides only while it still needs a
person, so the first wins and the second is told who decided and when; nothing is done twice.
"""

from __future__ import annotations

from aiohttp import web

from processor.console.audit_page import done_act
from processor.console.web import CONSOLE, SESSION, form_text, order_id_of, render
from processor.ops import audit
from processor.pos import review
from processor.pos.recheck import recheck

MOST = 500
STATUS = {review.Result.DONE: 200, review.Result.NOTHING_TO_DO: 409, review.Result.UNKNOWN: 404}


async def review_page(request: web.Request, answer: review.Answer | None = None) -> web.Response:
    console = request.app[CONSOLE]
    async with console.pool.acquire() as conn:
        sales = await review.list_sales(conn, console.deps.settings.fraud_wait_limit, MOST)
        done = await done_act(conn, request.query.get("done", ""))
    status = STATUS[answer.result] if answer else 200
    return render(
        request,
        "review.html",
        status,
        sales=sales,
        answer=answer,
        done=done,
        can_recheck=console.api is not None,
    )


async def resolve(request: web.Request) -> web.Response:
    order_id, form = order_id_of(request), await request.post()
    action, note = form_text(form, "action"), form_text(form, "note")
    if action not in ("invoice", "dismiss") or not note:
        answer = review.Answer(
            review.Result.NOTHING_TO_DO, "choose invoice or dismiss, and say why"
        )
        return await review_page(request, answer)
    console, operator = request.app[CONSOLE], request[SESSION].operator
    async with console.pool.acquire() as conn:
        answer = await review.resolve(
            conn, console.deps, order_id, review.OperatorDecision(action, note[:2000], operator)
        )
        if answer.result is not review.Result.DONE:
            return await review_page(request, answer)
        act = audit.Act(
            operator, "console", f"review.{action}", f"{answer.message}; note: {note}", [order_id]
        )
        raise web.HTTPSeeOther(f"/review?done={await audit.record(conn, act)}")


async def recheck_sale(request: web.Request) -> web.Response:
    order_id, console = order_id_of(request), request.app[CONSOLE]
    if console.api is None:
        answer = review.Answer(
            review.Result.NOTHING_TO_DO, "recheck needs TEVO_API_TOKEN and TEVO_API_SECRET"
        )
        return await review_page(request, answer)
    async with console.pool.acquire() as conn:
        answer = await recheck(conn, console.deps, order_id)
        if answer.result is not review.Result.DONE:
            return await review_page(request, answer)
        act = audit.Act(
            request[SESSION].operator, "console", "review.recheck", answer.message, [order_id]
        )
        raise web.HTTPSeeOther(f"/review?done={await audit.record(conn, act)}")
