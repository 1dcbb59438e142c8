"""Sales a batch at a time: the seller consumers' messages settled with one statement per step.

What `pos.sales.apply_order` does in about five round trips a message, done for a whole batch in
a handful: lock every order (ascending), load every sale with its invoice, add the new versions
and load the stored ones, settle each sale with the rules and checks of `pos.sales`, record
TEvo's checks, write every sale, new invoice and line; the rows are the ones the message-by-
message path leaves (tests/integration/sales/test_sale_batch.py). Two messages of one order or
a sale stored before versions existed raise `NotBatchable`, and on any error the applier rolls
the batch back and applies each message alone (`processor.runtime.set_based`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from contracts import Order
from processor.errors import NeedsVerification
from processor.handler import (
    AnswersNeeded,
    Applied,
    Connection,
    Deps,
    Inbound,
    NotBatchable,
    Record,
)
from processor.pos.invoices import invoice_args, sync_invoice
from processor.pos.sale_batch_sql import (
    ADD_AND_LOAD_ALL_SQL,
    CHECKED_ALL_SQL,
    LOAD_ALL_SQL,
    LOCK_ALL_SQL,
    SAVE_ALL_SQL,
)
from processor.pos.sale_rows import sale_columns
from processor.pos.sale_rules import Context, Target, Version
from processor.pos.sale_versions import TEVO, WEBHOOK, Incoming, stored
from processor.pos.sales import Settled, confirmed, order_group_id_of, sale_customer

log = structlog.get_logger(__name__)


@dataclass
class _Sale:
    """One message's sale as the batch settles it."""

    inbound: Inbound
    order: Order
    group: int
    incoming: Incoming
    row: asyncpg.Record | None = None
    versions: list[Version] = field(default_factory=list)
    customer_id: int | None = None
    remember: tuple[Callable[[], None], ...] = ()
    target: Target | None = None


Check = tuple[Version, str | None]  # a version TEvo's answer was compared with, and the problem


async def apply_orders(
    conn: Connection, deps: Deps, batch: Sequence[Inbound], *, cancels: str | None = None
) -> list[Applied]:
    """What `pos.sales.apply_order` does for each message of `batch`, a step at a time for all."""
    sales = [_sale(inbound, cancels) for inbound in batch]
    ids = [sale.order.id for sale in sales]
    if len(set(ids)) != len(ids):
        raise NotBatchable("two messages of one order")
    await conn.execute(LOCK_ALL_SQL, ids)
    limit = deps.settings.fraud_wait_limit
    rows = {row["tevo_order_id"]: row for row in await conn.fetch(LOAD_ALL_SQL, ids, limit)}
    await _add_and_load(conn, sales, rows)
    checks: list[Check] = []
    unanswered: list[int] = []
    for sale in sales:
        await _settle(conn, deps, sale, checks, unanswered)
    if unanswered:
        raise AnswersNeeded(unanswered)
    if checks:
        await conn.execute(CHECKED_ALL_SQL, *_columns([_check_row(*check) for check in checks]))
    return [
        _applied(sale, done) for sale, done in zip(sales, await _save(conn, sales), strict=True)
    ]


def _sale(inbound: Inbound, cancels: str | None) -> _Sale:
    order = inbound.order()
    received = inbound.received_at or datetime.now(UTC)
    incoming = Incoming.webhook(order, inbound.body, inbound.event_type, received, cancels)
    return _Sale(inbound, order, order_group_id_of(inbound, order), incoming)


async def _add_and_load(
    conn: Connection, sales: list[_Sale], rows: dict[int, asyncpg.Record]
) -> None:
    """Store each new version and load every stored one; an added version is the one parsed."""
    added = [(s.order.id, s.incoming.version, s.incoming.body) for s in sales]
    arrays = _columns(
        [(i, v.event_type, v.digest, v.cancels, v.ranked_at, body) for i, v, body in added]
    )
    by_order: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for version in await conn.fetch(ADD_AND_LOAD_ALL_SQL, *arrays):
        by_order[version["tevo_order_id"]].append(version)
    for sale in sales:
        sale.row = rows.get(sale.order.id)
        found = by_order[sale.order.id]
        sale.versions = [sale.incoming.version if v["added"] else stored(v) for v in found]
        known = [v for v in sale.versions if v != sale.incoming.version]
        if sale.row is not None and not known:
            raise NotBatchable("a sale stored without versions")


async def _settle(
    conn: Connection, deps: Deps, sale: _Sale, checks: list[Check], unanswered: list[int]
) -> None:
    """The sale's customer and target, as `pos.sales.settle_sale` finds them."""
    row, versions = sale.row, sale.versions
    operator_invoice = row is not None and row["review_decision"] == "invoice"
    newest = max((v for v in versions if v.disputed is None), key=Version.key, default=None)
    order = (newest or max(versions, key=Version.key)).order
    sale.customer_id, sale.remember = await sale_customer(conn, deps, row, order, operator_invoice)
    ctx = Context(
        riskified=deps.settings.riskified,
        has_customer=sale.customer_id is not None,
        operator_invoice=operator_invoice,
        waited_too_long=row is not None and row["waited_too_long"],
    )

    async def gather(body: Version, problem: str | None) -> None:  # written with the batch's
        checks.append((body, problem))

    try:
        sale.target = await confirmed(deps, versions, ctx, gather)
    except NeedsVerification as exc:
        unanswered.append(exc.order_id)


def _check_row(version: Version, problem: str | None) -> tuple[object, ...]:
    source = TEVO if version.trusted else WEBHOOK
    return (version.order.id, source, version.event_type, version.digest, problem is None, problem)


async def _save(conn: Connection, sales: list[_Sale]) -> list[tuple[list[str], list[Record]]]:
    """Write every sale and the invoices the batch makes in one statement, then bring the
    invoices already stored to their targets; what was done and created, sale by sale."""
    sale_rows, invoice_rows, line_rows = [], [], []
    for sale in sales:
        target = _target(sale)
        source = TEVO if target.newest.trusted else WEBHOOK
        columns = sale_columns(sale.order.id, sale.group, sale.customer_id, target)
        sale_rows.append((*columns[:14], source, *columns[15:], target.newest.event_type))
        if _invoices_now(sale):
            args = invoice_args(target)
            invoice_rows.append((sale.order.id, *args[:7], args[18], args[19]))
            line_rows += [(sale.order.id, *line) for line in zip(*args[7:18], strict=True)]
    made = {
        row[0]
        for row in await conn.fetch(
            SAVE_ALL_SQL,
            *_columns(sale_rows, 23),
            *_columns(invoice_rows, 10),
            *_columns(line_rows, 12),
        )
    }
    results: list[tuple[list[str], list[Record]]] = []
    for sale in sales:
        target = _target(sale)
        if _invoices_now(sale):
            done = ["invoice created"] + (["invoice voided"] if target.void_reason else [])
            results.append((done, [Record.INVOICE] if sale.order.id in made else []))
        elif sale.row is not None and sale.row["invoice_id"] is not None:
            results.append((await sync_invoice(conn, sale.row, target), []))
        else:
            results.append(([], []))
    return results


def _target(sale: _Sale) -> Target:
    assert sale.target is not None  # noqa: S101 - every sale is settled before it is saved
    return sale.target


def _invoices_now(sale: _Sale) -> bool:
    """The sale gets its invoice in this batch (as `pos.sale_rows.save_settled` decides)."""
    stored = sale.row is not None and sale.row["invoice_id"] is not None
    return not stored and _target(sale).invoice is not None and sale.customer_id is not None


def _columns(rows: Sequence[tuple[Any, ...]], width: int | None = None) -> list[list[Any]]:
    """Rows as one list per column (`width` empty lists when there are no rows)."""
    if not rows:
        return [[] for _ in range(width or 0)]
    return [list(column) for column in zip(*rows, strict=True)]


def _applied(sale: _Sale, saved: tuple[list[str], list[Record]]) -> Applied:
    done, created = saved
    target, row = _target(sale), sale.row
    settled = Settled(
        target, row["status"] if row else "new", done,
        (*([] if row else [Record.SALE]), *created), sale.remember,
    )  # fmt: skip
    log.info(
        "sale.applied",
        message_id=sale.inbound.message_id,
        tevo_order_id=sale.order.id,
        status_before=settled.before,
        status=target.status.value,
        actions=settled.done,
        review=target.review_reason is not None,
    )
    incoming = sale.incoming.version
    return Applied(
        sale.order.id,
        settled.note(incoming),
        sale.order.normalized_state,
        created=settled.created,
        after_commit=settled.after_commit,
    )
