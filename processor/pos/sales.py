"""Sales (`pos.sales`): settle a sale from every body it received, one order at a time.

Each seller webhook adds its body to the sale's versions (`pos.sale_versions`); the sale, its
invoice and its flags are then recomputed from all of them by `sale_rules.settle` and written
back. `review recheck` adds TEvo's own copy the same way, and `review resolve --invoice` settles
with an operator's decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

import asyncpg
import structlog

from contracts import Order
from contracts.exact import as_id
from processor.errors import ContractViolation
from processor.handler import Applied, Connection, Deps, Inbound, Record
from processor.pos.customers import customer_for
from processor.pos.sale_rows import save_settled
from processor.pos.sale_rules import Context, Target, Version, settle
from processor.pos.sale_versions import Incoming, add_and_load, adopt_legacy, record_check
from processor.tevo.verify import check_before_invoicing

# Where `confirmed` puts the outcome of one check against TEvo's API: the body, and its problem.
RecordCheck = Callable[[Version, str | None], Awaitable[None]]

log = structlog.get_logger(__name__)

# Held until commit: two consumers never interleave on one order, even before its row exists.
# Hashed under a name of its own so it cannot meet another kind of advisory lock.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('pos.sales:' || $1::bigint, 0))"
LOAD_SQL = """
SELECT s.status, s.customer_id, s.order_group_id, s.review_decision,
       s.fraud_wait_exceeded_at IS NOT NULL OR s.created_at < now() - $2::interval
           AS waited_too_long,
       i.id AS invoice_id, i.content_digest, i.voided_at IS NOT NULL AS voided, i.void_reason
FROM pos.sales s LEFT JOIN pos.invoices i ON i.tevo_order_id = s.tevo_order_id
WHERE s.tevo_order_id = $1
"""


@dataclass(frozen=True)
class Settled:
    """A sale once settled: what it is now, what was done, and what to do after the commit."""

    target: Target
    before: str  # its status before, or "new"
    done: list[str]
    created: tuple[Record, ...]
    after_commit: tuple[Callable[[], None], ...]

    def note(self, incoming: Version | None) -> str:
        parts = [f"{self.before} -> {self.target.status.value}", *self.done]
        if incoming is not None and incoming.key() < self.target.newest.key():
            parts.append("older than the stored order")
        if self.target.review_reason:
            parts.append(f"review: {self.target.review_reason}")
        return "; ".join(parts)


async def apply_order(
    inbound: Inbound, conn: Connection, deps: Deps, *, cancels: str | None = None
) -> Applied:
    """Add the webhook's order to its sale and settle the sale (`sale_rules`).

    `cancels` is set by consumers whose event itself cancels the order (e.g. "order rejected").
    """
    order = inbound.order()
    group = order_group_id_of(inbound, order)
    received = inbound.received_at or datetime.now(UTC)
    incoming = Incoming.webhook(order, inbound.body, inbound.event_type, received, cancels)
    settled = await settle_sale(conn, deps, order.id, group, incoming)
    log.info(
        "sale.applied",
        tevo_order_id=order.id,
        status_before=settled.before,
        status=settled.target.status.value,
        actions=settled.done,
        review=settled.target.review_reason is not None,
    )
    return Applied(
        order.id,
        settled.note(incoming.version),
        order.normalized_state,
        created=settled.created,
        after_commit=settled.after_commit,
    )


async def settle_sale(
    conn: Connection,
    deps: Deps,
    tevo_order_id: int,
    group: int | None,
    incoming: Incoming | None = None,
    *,
    operator_invoice: bool = False,
) -> Settled:
    """Add `incoming` (if any) to the sale's versions, settle the sale and write it back.

    `group` may be None only for a sale already stored. Raises a `Retryable` when TEvo's API
    must confirm a body and cannot answer.
    """
    await conn.execute(LOCK_SQL, tevo_order_id)
    row = await conn.fetchrow(LOAD_SQL, tevo_order_id, deps.settings.fraud_wait_limit)
    versions = await _versions(conn, tevo_order_id, row, incoming)
    operator_invoice = operator_invoice or (row is not None and row["review_decision"] == "invoice")
    newest = max((v for v in versions if v.disputed is None), key=Version.key, default=None)
    customer_id, remember = await sale_customer(
        conn, deps, row, (newest or max(versions, key=Version.key)).order, operator_invoice
    )
    ctx = Context(
        riskified=deps.settings.riskified,
        has_customer=customer_id is not None,
        operator_invoice=operator_invoice,
        waited_too_long=row is not None and row["waited_too_long"],
    )
    target = await confirmed(deps, versions, ctx, partial(record_check, conn))
    group = group if group is not None else row["order_group_id"] if row else None
    if group is None:
        raise ContractViolation("order_group_id is required for a sale")
    stored = row if row is not None and row["invoice_id"] is not None else None
    done, created = await save_settled(conn, (tevo_order_id, group, customer_id), target, stored)
    return Settled(
        target, row["status"] if row else "new", done, (*([] if row else [Record.SALE]), *created),
        remember,
    )  # fmt: skip


async def _versions(
    conn: Connection, tevo_order_id: int, row: asyncpg.Record | None, incoming: Incoming | None
) -> list[Version]:
    """Every version of the sale, `incoming` added; a sale stored without any (by the previous
    release) first gets its stored body as one, so nothing it knew is lost."""
    versions = await add_and_load(conn, tevo_order_id, incoming)
    known = [v for v in versions if incoming is None or v != incoming.version]
    if row is not None and not known and await adopt_legacy(conn, tevo_order_id):
        versions = await add_and_load(conn, tevo_order_id, None)
    return versions


async def confirmed(
    deps: Deps, versions: list[Version], ctx: Context, record: RecordCheck
) -> Target:
    """The target once TEvo's API confirmed what a standing invoice rests on: the body it comes
    from and, for a Client, the approval (only its buyer and fraud status: the amounts may have
    moved on since, and the invoice's own body is checked in full).

    A body TEvo contradicts is marked disputed and no longer counts; the sale is settled again
    without it (it may then wait in `needs_review` with the differences as its reason). Each
    check is handed to `record`: written at once, or gathered to be written with a batch's.
    """
    while True:
        target = settle(versions, ctx)
        if not target.invoice_live or deps.tevo_api is None:
            return target
        checks = [(target.invoice, False), (target.approval, True)]
        due = [(v, only) for v, only in checks if v is not None and not (v.trusted or v.verified)]
        if not due:
            return target
        body, decision_only = due[0]
        problem = await check_before_invoicing(deps, body.order, decision_only=decision_only)
        await record(body, problem)
        checked = replace(body, verified=problem is None, disputed=problem)
        versions = [checked if v == body else v for v in versions]


async def sale_customer(
    conn: Connection, deps: Deps, row: asyncpg.Record | None, order: Order, any_buyer: bool
) -> tuple[int | None, tuple[Callable[[], None], ...]]:
    """The sale's customer (the stored one, else the buyer's), and what to remember of it once
    the transaction commits."""
    if row is not None and row["customer_id"] is not None:
        return row["customer_id"], ()
    found = await customer_for(conn, order, deps.offices, any_buyer=any_buyer)
    if found.office_id is None or found.customer_id is None:
        return found.customer_id, ()
    return found.customer_id, (partial(deps.offices.remember, found.office_id, found.customer_id),)


def order_group_id_of(inbound: Inbound, order: Order) -> int:
    group = inbound.order_group_id
    if group is None:  # the form field is the source; the body repeats it in some versions
        body_group = (order.model_extra or {}).get("order_group_id")
        try:
            group = as_id(body_group)
        except ValueError:
            group = None
    if group is None:
        raise ContractViolation("order_group_id is required for a sale")
    return group
