"""`review recheck`: fetch TEvo's own copy of an order and settle its sale with it as TEvo's word.

The copy joins the sale's versions as trusted (`pos.sale_versions.source = 'tevo'`): it needs no
verification, and a webhook TEvo contradicted no longer counts, so a sale held because its
webhook disagreed with TEvo is invoiced from TEvo's copy, through the same rules as a webhook.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from processor.handler import Connection, Deps
from processor.pos.review import Answer, Result, record_operator_act
from processor.pos.sale_versions import Incoming
from processor.pos.sales import settle_sale

log = structlog.get_logger(__name__)

KNOWN_SQL = "SELECT order_group_id FROM pos.sales WHERE tevo_order_id = $1"


async def recheck(conn: Connection, deps: Deps, order_id: int) -> Answer:
    """Settle one sale with TEvo's copy (`deps.tevo_api` is set); raises a `Retryable` when
    TEvo cannot answer."""
    group = await conn.fetchval(KNOWN_SQL, order_id)
    if group is None:
        return Answer(Result.UNKNOWN, f"no sale {order_id} in the POS")
    deps, failed = await deps.answered([order_id])  # outside the transaction: no lock held
    if order_id in failed:
        raise failed[order_id]
    found = deps.answers.get(order_id)
    if found is None:
        return Answer(Result.NOTHING_TO_DO, f"TEvo has no order {order_id}: nothing to apply")
    incoming = Incoming.tevo_copy(found, datetime.now(UTC))
    if incoming.version.order.id != order_id:
        return Answer(Result.NOTHING_TO_DO, f"TEvo answered for another order than {order_id}")
    # TEvo's answer is in `deps`: a check of another body (a Client's approval) is made against it
    async with conn.transaction():
        settled = await settle_sale(conn, deps, order_id, group, incoming)
        note = f"TEvo's copy applied: {settled.note(incoming.version)}"
        state = incoming.version.order.normalized_state
        await record_operator_act(
            conn, order_id, group, event_type="review_recheck", state=state, note=note
        )
    log.info(
        "review.rechecked",
        tevo_order_id=order_id,
        status_before=settled.before,
        status=settled.target.status.value,
        actions=settled.done,
    )
    return Answer(Result.DONE, f"sale {order_id}: {note}")
