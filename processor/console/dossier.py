"""One order's whole story from the POS: sale, versions and their changes, invoice, purchase
order, history, audit; and the search that finds an order from whatever the operator holds.

Reads only. Buyer details leave here masked unless `reveal` is set (an audited act of the page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from processor.console.privacy import mask
from processor.console.story import Change, changes, decision
from processor.handler import Connection
from processor.pos.customers import email_key

SALE_SQL = """
SELECT s.tevo_order_id, s.order_group_id, s.oid, s.buyer_type, s.buyer_id, s.status, s.state,
       s.review_reason, s.fraud_check_status, s.total, s.delivery_state, s.order_updated_at,
       s.created_at, s.updated_at, s.review_decision, s.review_decided_by, s.review_decided_at,
       s.review_note, c.name AS customer_name, c.email AS customer_email,
       c.phone AS customer_phone, c.id AS customer_id
FROM pos.sales s LEFT JOIN pos.customers c ON c.id = s.customer_id
WHERE s.tevo_order_id = $1
"""
VERSIONS_SQL = """
SELECT received_at, source, event_type, ranked_at, verified, disputed, body
FROM pos.sale_versions WHERE tevo_order_id = $1 ORDER BY received_at, id
"""
INVOICE_SQL = """
SELECT id, total, created_at, amended_at, voided_at, void_reason
FROM pos.invoices WHERE tevo_order_id = $1
"""
LINES_SQL = """
SELECT quantity, price, ticket_group_id, remote_id, section, row, seats, event_name
FROM pos.invoice_lines WHERE invoice_id = $1 ORDER BY id
"""
PURCHASE_SQL = """
SELECT id, order_group_id, oid, status, state, seller_name, total, review_reason, created_at,
       updated_at
FROM pos.purchase_orders WHERE tevo_order_id = $1
"""
PURCHASE_LINES_SQL = """
SELECT quantity, price, ticket_group_id, section, row, seats, event_name, removed_at,
       etickets_finalized_at
FROM pos.purchase_order_lines WHERE purchase_order_id = $1 ORDER BY id
"""
HISTORY_SQL = """
SELECT received_at, applied_at, recipient, event_type, message_id, consumer, state, note
FROM pos.order_history WHERE tevo_order_id = $1 ORDER BY applied_at, id
"""
AUDIT_SQL = """
SELECT at, operator, via, action, detail FROM pos.audit
WHERE order_ids @> ARRAY[$1::bigint] ORDER BY at, id
"""
# $1: the words searched; $2: as a number when they are one. Most recent first.
# $3: the words as a customer's e-mail key (pos.customers.email_key).
SEARCH_SQL = """
SELECT DISTINCT ON (tevo_order_id) tevo_order_id, order_group_id, kind, status, created_at, why
FROM (
  SELECT s.tevo_order_id, s.order_group_id, 'sale' AS kind, s.status, s.created_at,
         CASE WHEN s.tevo_order_id = $2 THEN 'order id' WHEN s.order_group_id = $2
              THEN 'order group' WHEN s.oid = $1 THEN 'oid' ELSE 'customer' END AS why
  FROM pos.sales s LEFT JOIN pos.customers c ON c.id = s.customer_id
  WHERE s.tevo_order_id = $2 OR s.order_group_id = $2 OR upper(s.oid) = upper($1)
     OR c.email_key = $3
     OR (length($1) >= 3 AND c.name ILIKE '%' || $1 || '%')
  UNION ALL
  SELECT p.tevo_order_id, p.order_group_id, 'purchase', p.status, p.created_at,
         CASE WHEN p.tevo_order_id = $2 THEN 'order id' WHEN p.order_group_id = $2
              THEN 'order group' ELSE 'oid' END
  FROM pos.purchase_orders p
  WHERE p.tevo_order_id = $2 OR p.order_group_id = $2 OR upper(p.oid) = upper($1)
  UNION ALL
  SELECT h.tevo_order_id, h.order_group_id, 'message', NULL, h.applied_at, 'message id'
  FROM pos.order_history h WHERE h.message_id = $1 AND h.tevo_order_id IS NOT NULL
) found
ORDER BY tevo_order_id, created_at DESC
LIMIT 100
"""


@dataclass
class Version:
    received_at: Any
    source: str
    event_type: str
    verified: bool
    disputed: str | None
    fraud_check_status: str | None
    total: Any
    changes: list[Change] = field(default_factory=list)


@dataclass
class Dossier:
    order_id: int
    sale: dict[str, Any] | None
    decision: str | None
    versions: list[Version]
    invoice: dict[str, Any] | None
    lines: list[dict[str, Any]]
    purchase: dict[str, Any] | None
    purchase_lines: list[dict[str, Any]]
    history: list[dict[str, Any]]
    audit: list[dict[str, Any]]

    @property
    def known(self) -> bool:
        return bool(self.sale or self.purchase or self.history)

    @property
    def ids(self) -> set[int]:
        """The order's own id and its group's, as the broker's copies name them."""
        groups = {r["order_group_id"] for r in (self.sale, self.purchase) if r}
        return {self.order_id, *{g for g in groups if g is not None}}


async def dossier(conn: Connection, order_id: int, *, reveal: bool, riskified: bool) -> Dossier:
    sale = await _one(conn, SALE_SQL, order_id)
    invoice = await _one(conn, INVOICE_SQL, order_id)
    purchase = await _one(conn, PURCHASE_SQL, order_id)
    # An Office is one of TEvo's brokerages, not a person: its name is no buyer's detail.
    if sale is not None and not reveal and sale["buyer_type"] != "Office":
        for key, kind in (("customer_name", ""), ("customer_email", "email")):
            sale[key] = mask(sale[key], kind)
        sale["customer_phone"] = mask(sale["customer_phone"], "phone")
    return Dossier(
        order_id=order_id,
        sale=sale,
        decision=decision(sale, riskified=riskified) if sale else None,
        versions=_versions(await conn.fetch(VERSIONS_SQL, order_id), reveal=reveal),
        invoice=invoice,
        lines=await _all(conn, LINES_SQL, invoice["id"]) if invoice else [],
        purchase=purchase,
        purchase_lines=await _all(conn, PURCHASE_LINES_SQL, purchase["id"]) if purchase else [],
        history=await _all(conn, HISTORY_SQL, order_id),
        audit=await _all(conn, AUDIT_SQL, order_id),
    )


def _versions(rows: list[Any], *, reveal: bool) -> list[Version]:
    versions, previous = [], None
    for row in rows:
        body = row["body"] if isinstance(row["body"], dict) else _json(row["body"])
        version = Version(
            received_at=row["received_at"],
            source=row["source"],
            event_type=row["event_type"],
            verified=row["verified"],
            disputed=row["disputed"],
            fraud_check_status=body.get("fraud_check_status"),
            total=body.get("total"),
        )
        if previous is not None:
            version.changes = changes(previous, body, reveal=reveal)
        versions.append(version)
        previous = body
    return versions


def _json(text: str) -> dict[str, Any]:
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


async def _one(conn: Connection, sql: str, *args: object) -> dict[str, Any] | None:
    row = await conn.fetchrow(sql, *args)
    return None if row is None else dict(row.items())


async def _all(conn: Connection, sql: str, *args: object) -> list[dict[str, Any]]:
    return [dict(r.items()) for r in await conn.fetch(sql, *args)]


async def search(conn: Connection, words: str) -> list[dict[str, Any]]:
    """Orders matching an order id, order group id, oid, customer e-mail or name, or message id."""
    words = words.strip()
    number = int(words) if words.isascii() and words.isdigit() and len(words) < 19 else None
    return await _all(conn, SEARCH_SQL, words, number, email_key(words))
