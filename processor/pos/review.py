"""The sales that need a person: which they are, what each holds, and an operator's decision.

A sale needs a person while it is `needs_review`, has a `review_reason` (flagged, or waiting
visibly), or has awaited a fraud decision longer than `TEVO_FRAUD_WAIT_LIMIT`, unless an
operator resolved it for the very reason it shows: a new reason brings it back. `resolve`
records the decision, who made it and why in the sale and its history; `--invoice` settles the
sale through the same rules with the operator's word added, so it can never make a second
invoice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

import asyncpg

from processor.errors import NeedsVerification
from processor.handler import Connection, Deps
from processor.pos.review_reasons import FRAUD_WAIT_EXCEEDED
from processor.pos.sales import LOCK_SQL, settle_sale

# $1: TEVO_FRAUD_WAIT_LIMIT. Spelled once: the list, the gauge and `resolve` agree.
WAITED = "(s.status = 'awaiting_fraud_check' AND s.created_at < now() - $1::interval)"
NEEDS_PERSON = f"""(
    (s.review_reason IS NOT NULL OR s.status = 'needs_review' OR {WAITED})
    AND NOT (s.review_decision IS NOT NULL
             AND s.review_decided_reason IS NOT DISTINCT FROM s.review_reason))"""
COLUMNS = f"""s.tevo_order_id, s.order_group_id, s.status, s.buyer_type, s.total,
    coalesce(s.review_reason, CASE WHEN {WAITED} THEN '{FRAUD_WAIT_EXCEEDED}' END) AS review_reason,
    s.created_at, now() - s.created_at AS age, s.review_decision, s.review_decided_by,
    s.review_decided_at, s.review_note"""
LIST_SQL = f"""
SELECT {COLUMNS} FROM pos.sales s WHERE {NEEDS_PERSON}
ORDER BY s.created_at, s.tevo_order_id LIMIT $2
"""  # noqa: S608 - built from constants only
COUNT_SQL = f"""
SELECT count(*) FILTER (WHERE {NEEDS_PERSON}) AS awaiting_review,
       count(*) FILTER (WHERE {WAITED}) AS waiting_too_long
FROM pos.sales s WHERE s.review_reason IS NOT NULL OR s.status IN ('needs_review',
                                                                   'awaiting_fraud_check')
"""  # noqa: S608 - built from constants only
SALE_SQL = f"""
SELECT {COLUMNS}, s.customer_id, s.fraud_check_status, s.state, s.delivery_state,
       s.order_updated_at, {NEEDS_PERSON} AS needs_person
FROM pos.sales s WHERE s.tevo_order_id = $2
"""  # noqa: S608 - built from constants only
INVOICE_SQL = """
SELECT id, customer_id, subtotal, service_fee, shipping, tax, total, created_at, amended_at,
       voided_at, void_reason
FROM pos.invoices WHERE tevo_order_id = $1
"""
LINES_SQL = """
SELECT tevo_item_id, ticket_group_id, remote_id, section, row, seats, quantity, price, event_name,
       event_occurs_at
FROM pos.invoice_lines WHERE invoice_id = $1 ORDER BY id
"""
HISTORY_SQL = """
SELECT applied_at, recipient, event_type, consumer, state, note
FROM pos.order_history WHERE tevo_order_id = $1 ORDER BY applied_at, id
"""
VERSIONS_SQL = """
SELECT received_at, source, event_type, ranked_at,
       body->>'fraud_check_status' AS fraud_check_status, body->>'total' AS total, verified,
       disputed
FROM pos.sale_versions WHERE tevo_order_id = $1 ORDER BY received_at, id
"""
DECIDE_SQL = """
UPDATE pos.sales SET review_decision = $2,
    -- what the list showed, for a dismissal; what is left once invoiced, for an invoice
    review_decided_reason = CASE WHEN $2 = 'invoice' THEN review_reason ELSE $5 END,
    review_decided_by = $3, review_decided_at = now(), review_note = $4, updated_at = now()
WHERE tevo_order_id = $1
RETURNING status, state, order_group_id
"""
# An operator's act is one history row of its own, like a webhook's.
OPERATOR_HISTORY_SQL = """
INSERT INTO pos.order_history (tevo_order_id, order_group_id, recipient, event_type, message_id,
                               consumer, state, note, received_at)
VALUES ($1, $2, 'seller', $3, $4, 'review', $5, $6, now())
"""


def as_dict(record: asyncpg.Record) -> dict[str, Any]:
    return dict(record.items())


async def list_sales(conn: Connection, limit: timedelta, most: int) -> list[dict[str, Any]]:
    """The sales that need a person, oldest first."""
    return [as_dict(r) for r in await conn.fetch(LIST_SQL, limit, most)]


async def counts(conn: Connection, limit: timedelta) -> tuple[int, int]:
    """(sales that need a person, sales awaiting a fraud decision longer than `limit`)."""
    row = await conn.fetchrow(COUNT_SQL, limit)
    return (row["awaiting_review"], row["waiting_too_long"]) if row else (0, 0)


async def show_sale(conn: Connection, limit: timedelta, order_id: int) -> dict[str, Any] | None:
    """The sale, its invoice and lines, its versions and its history; None if unknown."""
    sale = await conn.fetchrow(SALE_SQL, limit, order_id)
    if sale is None:
        return None
    invoice = await conn.fetchrow(INVOICE_SQL, order_id)
    lines = await conn.fetch(LINES_SQL, invoice["id"]) if invoice else []
    return {
        "sale": as_dict(sale),
        "invoice": as_dict(invoice) if invoice else None,
        "lines": [as_dict(line) for line in lines],
        "versions": [as_dict(v) for v in await conn.fetch(VERSIONS_SQL, order_id)],
        "history": [as_dict(h) for h in await conn.fetch(HISTORY_SQL, order_id)],
    }


class Result(Enum):
    """How an operator command ended; its value is the exit status."""

    DONE = 0
    NOTHING_TO_DO = 1
    UNKNOWN = 2


@dataclass(frozen=True)
class Answer:
    result: Result
    message: str


@dataclass(frozen=True)
class OperatorDecision:
    """An operator's word on a sale: `invoice` or `dismiss`, why, and who."""

    action: str
    note: str
    by: str


class _Undo(Exception):
    """Rolls back an `--invoice` the rules would not turn into a standing invoice."""


async def resolve(
    conn: Connection, deps: Deps, order_id: int, decision: OperatorDecision
) -> Answer:
    """Record an operator's `invoice` or `dismiss` for a sale that needs a person."""

    async def attempt(deps: Deps) -> Answer:
        async with conn.transaction():
            return await _resolve(conn, deps, order_id, decision)

    try:
        try:
            return await attempt(deps)
        except NeedsVerification as needed:  # as the processor does: TEvo asked outside, then again
            if deps.tevo_api is None:
                raise
            answered, failed = await deps.answered([needed.order_id])
            if needed.order_id in failed:
                raise failed[needed.order_id] from None
            return await attempt(answered)
    except _Undo as undo:
        return Answer(Result.NOTHING_TO_DO, str(undo))


async def _resolve(
    conn: Connection, deps: Deps, order_id: int, decision: OperatorDecision
) -> Answer:
    await conn.execute(LOCK_SQL, order_id)
    sale = await conn.fetchrow(SALE_SQL, deps.settings.fraud_wait_limit, order_id)
    if sale is None:
        return Answer(Result.UNKNOWN, f"no sale {order_id} in the POS")
    if not sale["needs_person"]:
        return Answer(Result.NOTHING_TO_DO, _why_nothing(sale))
    done = f"{decision.action} by {decision.by}"
    if decision.action == "invoice":
        settled = await settle_sale(conn, deps, order_id, None, operator_invoice=True)
        if not settled.target.invoice_live:
            reason = settled.target.review_reason or settled.target.status.value
            raise _Undo(f"sale {order_id} cannot be invoiced: {reason}")
        done = f"{done}; {settled.note(None)}"
    row = await conn.fetchrow(
        DECIDE_SQL, order_id, decision.action, decision.by, decision.note, sale["review_reason"]
    )
    assert row is not None  # noqa: S101 - the sale is locked and was read above
    await record_operator_act(
        conn,
        order_id,
        row["order_group_id"],
        event_type="review_resolved",
        state=row["state"],
        note=f"review resolved: {done}; note: {decision.note}",
    )
    return Answer(Result.DONE, f"sale {order_id}: {done}")


def _why_nothing(sale: asyncpg.Record) -> str:
    if sale["review_decision"] is not None:
        return (
            f"sale {sale['tevo_order_id']} was already resolved ({sale['review_decision']}) by "
            f"{sale['review_decided_by']} at {sale['review_decided_at']:%Y-%m-%d %H:%M:%S %Z}"
        )
    return f"sale {sale['tevo_order_id']} is not held for review (status {sale['status']})"


async def record_operator_act(
    conn: Connection, order_id: int, group: int, *, event_type: str, state: str | None, note: str
) -> None:
    """One history row for something a person did to a sale (e.g. `review recheck`)."""
    await conn.execute(
        OPERATOR_HISTORY_SQL, order_id, group, event_type, f"review:{uuid.uuid4()}", state, note
    )
