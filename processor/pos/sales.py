"""Sales (`pos.sales`): apply one seller webhook's order to its sale, one order at a time."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import asyncpg
import structlog

from contracts import Order, parse_order
from processor.deps import Deps
from processor.errors import ContractViolation
from processor.pos.customers import customer_for
from processor.pos.invoices import INVOICE_AFTER_SALE_SQL, invoice_args, void_invoice
from processor.pos.sale_rules import (
    Facts,
    Fraud,
    Known,
    Outcome,
    Status,
    cancel_reason,
    decide,
    delivery_state,
    merge,
)
from processor.runtime.message import Applied, Connection, Inbound, Record
from processor.tevo.verify import check_before_invoicing

log = structlog.get_logger("processor.pos.sales")

# Held until commit: two consumers never interleave on one order, even before its row exists.
# Hashed under a name of its own so it cannot meet another kind of advisory lock.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('pos.sales:' || $1::bigint, 0))"
LOAD_SQL = """
SELECT s.status, s.customer_id, s.raw::text AS raw, s.order_digest, s.fraud_check_status,
       s.fraud_status_at, s.fraud_approved_seen, s.fraud_declined_seen,
       i.total AS invoice_total, i.voided_at IS NOT NULL AS invoice_voided
FROM pos.sales s LEFT JOIN pos.invoices i ON i.tevo_order_id = s.tevo_order_id
WHERE s.tevo_order_id = $1
"""
SAVE_SQL = """
INSERT INTO pos.sales (tevo_order_id, order_group_id, oid, buyer_type, buyer_id, state, subtotal,
                       service_fee, shipping, tax, total, order_updated_at, order_digest,
                       delivery_state, raw, customer_id, fraud_check_status, fraud_status_at,
                       fraud_approved_seen, fraud_declined_seen, status, review_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18,
        $19, $20, $21, $22)
ON CONFLICT (tevo_order_id) DO UPDATE SET
    order_group_id = EXCLUDED.order_group_id, oid = EXCLUDED.oid,
    buyer_type = EXCLUDED.buyer_type, buyer_id = EXCLUDED.buyer_id, state = EXCLUDED.state,
    subtotal = EXCLUDED.subtotal, service_fee = EXCLUDED.service_fee,
    shipping = EXCLUDED.shipping, tax = EXCLUDED.tax, total = EXCLUDED.total,
    order_updated_at = EXCLUDED.order_updated_at, order_digest = EXCLUDED.order_digest,
    delivery_state = EXCLUDED.delivery_state, raw = EXCLUDED.raw,
    customer_id = EXCLUDED.customer_id, fraud_check_status = EXCLUDED.fraud_check_status,
    fraud_status_at = EXCLUDED.fraud_status_at,
    fraud_approved_seen = EXCLUDED.fraud_approved_seen,
    fraud_declined_seen = EXCLUDED.fraud_declined_seen,
    status = EXCLUDED.status, review_reason = EXCLUDED.review_reason, updated_at = now()
"""
SAVE_AND_INVOICE_SQL = f"""
WITH sale AS (
{SAVE_SQL}
RETURNING tevo_order_id, customer_id, subtotal, service_fee, shipping, tax, total
){INVOICE_AFTER_SALE_SQL}"""


async def apply_order(
    inbound: Inbound, conn: Connection, deps: Deps, *, cancels: str | None = None
) -> Applied:
    """Merge the webhook's order into its sale and follow TEvo's rules (`sale_rules`).

    `cancels` is set by consumers whose event itself cancels the order (e.g. "order rejected").
    """
    order = inbound.order()
    group = _order_group_id(inbound, order)
    await conn.execute(LOCK_SQL, order.id)
    row = await conn.fetchrow(LOAD_SQL, order.id)
    facts = merge(_known(row), order, hashlib.sha256(inbound.body).hexdigest(), cancels)
    customer_id, remember = await _customer(conn, deps, row, facts.order)
    outcome = decide(facts, customer_id is not None, deps.settings.riskified)
    if outcome.invoice_now:
        outcome = await _verified(deps, facts.order, outcome)
    raw = inbound.body.decode() if facts.body_is_newest or row is None else row["raw"]
    columns = _columns(group, facts, outcome, customer_id, raw)
    done, created = [], [] if row else [Record.SALE]
    if outcome.invoice_now and customer_id is not None:
        invoice_id = await conn.fetchval(SAVE_AND_INVOICE_SQL, *columns, *invoice_args(facts.order))
        if invoice_id is not None:
            created.append(Record.INVOICE)
        done.append("invoice created")
    else:
        await conn.execute(SAVE_SQL, *columns)
    if outcome.void_now:
        await void_invoice(conn, order.id, cancel_reason(order, cancels) or "order canceled")
        done.append("invoice voided")
    before = row["status"] if row else "new"
    log.info(
        "sale.applied",
        tevo_order_id=order.id,
        status_before=before,
        status=outcome.status.value,
        actions=done,
        stale=not facts.body_is_newest,
        review=outcome.review_reason is not None,
    )
    note = _note(before, outcome, facts, done)
    return Applied(
        order.id, note, order.normalized_state, created=tuple(created), after_commit=remember
    )


async def _customer(
    conn: Connection, deps: Deps, row: asyncpg.Record | None, order: Order
) -> tuple[int | None, tuple[Callable[[], None], ...]]:
    """The sale's customer (the stored one, else the buyer's), and what to remember of it once
    the transaction commits."""
    if row is not None and row["customer_id"] is not None:
        return row["customer_id"], ()
    found = await customer_for(conn, order, deps.offices)
    if found.office_id is None or found.customer_id is None:
        return found.customer_id, ()
    return found.customer_id, (partial(deps.offices.remember, found.office_id, found.customer_id),)


async def _verified(deps: Deps, order: Order, outcome: Outcome) -> Outcome:
    """The outcome once TEvo's API confirmed the order (when verification is on).

    A webhook TEvo does not confirm is not invoiced: the sale waits in `needs_review` with the
    differences as its reason. A later webhook for the same order is checked again.
    """
    problem = await check_before_invoicing(deps, order)
    if problem is None:
        return outcome
    reason = "; ".join(r for r in (f"not confirmed by TEvo: {problem}", outcome.review_reason) if r)
    return replace(outcome, status=Status.NEEDS_REVIEW, invoice_now=False, review_reason=reason)


def _order_group_id(inbound: Inbound, order: Order) -> int:
    group = inbound.order_group_id
    if group is None:  # the form field is the source; the body repeats it in some versions
        body_group = (order.model_extra or {}).get("order_group_id")
        group = int(str(body_group)) if str(body_group).isdigit() else None
    if group is None:
        raise ContractViolation("order_group_id is required for a sale")
    return group


def _known(row: asyncpg.Record | None) -> Known | None:
    if row is None:
        return None
    return Known(
        order=parse_order(row["raw"]),
        digest=row["order_digest"] or "",
        status=Status(row["status"]),
        fraud=Fraud(row["fraud_check_status"], row["fraud_status_at"]),
        approved_seen=row["fraud_approved_seen"],
        declined_seen=row["fraud_declined_seen"],
        invoice_total=row["invoice_total"],
        invoice_voided=row["invoice_voided"],
    )


def _columns(
    group: int, facts: Facts, outcome: Outcome, customer_id: int | None, raw: str
) -> tuple[Any, ...]:
    order, buyer = facts.order, facts.order.buyer
    return (
        order.id,
        group,
        order.oid,
        buyer.type if buyer else None,
        buyer.id if buyer else None,
        order.normalized_state,
        order.subtotal,
        order.service_fee,
        order.shipping,
        order.tax,
        order.total,
        order.updated_at,
        facts.digest,
        delivery_state(order),
        raw,
        customer_id,
        facts.fraud.status,
        facts.fraud.at,
        facts.approved_seen,
        facts.declined_seen,
        outcome.status.value,
        outcome.review_reason,
    )


def _note(before: str, outcome: Outcome, facts: Facts, done: list[str]) -> str:
    parts = [f"{before} -> {outcome.status.value}", *done]
    if not facts.body_is_newest:
        parts.append("older than the stored order")
    if outcome.review_reason:
        parts.append(f"review: {outcome.review_reason}")
    return "; ".join(parts)
