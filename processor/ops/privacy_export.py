"""Everything the POS holds on one person, as one JSON document (`privacy export`).

Whole rows, as Postgres renders them (`to_jsonb`), of the records `privacy.find_records` finds,
and of what hangs off them: the invoices and lines of their sales, the lines of their purchase
orders, and the history of both.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from processor.ops.privacy import Records

QUERIES = {
    "customers": "SELECT to_jsonb(t) FROM pos.customers t WHERE id = ANY($1::bigint[])",
    "sales": "SELECT to_jsonb(t) FROM pos.sales t WHERE id = ANY($1::bigint[])",
    "sale_versions": "SELECT to_jsonb(t) FROM pos.sale_versions t WHERE id = ANY($1::bigint[])",
    "purchase_orders": (
        "SELECT to_jsonb(t) FROM pos.purchase_orders t WHERE id = ANY($1::bigint[])"
    ),
}
SOURCES = {
    "customers": "pos.customers",
    "sales": "pos.sales",
    "sale_versions": "pos.sale_versions",
    "purchase_orders": "pos.purchase_orders",
}
ORDERS_SQL = """
SELECT tevo_order_id FROM pos.sales WHERE id = ANY($1::bigint[])
UNION SELECT tevo_order_id FROM pos.purchase_orders WHERE id = ANY($2::bigint[])
"""
INVOICES_SQL = """
SELECT to_jsonb(i) || jsonb_build_object('lines', coalesce(
    (SELECT jsonb_agg(to_jsonb(l) ORDER BY l.id) FROM pos.invoice_lines l
     WHERE l.invoice_id = i.id), '[]'::jsonb))
FROM pos.invoices i WHERE i.tevo_order_id = ANY($1::bigint[]) ORDER BY i.id
"""
PURCHASE_LINES_SQL = """
SELECT to_jsonb(l) FROM pos.purchase_order_lines l
WHERE l.purchase_order_id = ANY($1::bigint[]) ORDER BY l.id
"""
HISTORY_SQL = """
SELECT to_jsonb(h) FROM pos.order_history h WHERE h.tevo_order_id = ANY($1::bigint[])
ORDER BY h.applied_at, h.id
"""


async def export(conn: asyncpg.Connection, records: Records) -> dict[str, Any]:
    """The person's records, and what hangs off them, in one consistent snapshot."""
    document: dict[str, Any] = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for name, sql in QUERIES.items():
            document[name] = await _rows(conn, sql, records.found[SOURCES[name]])
        orders = [
            r["tevo_order_id"]
            for r in await conn.fetch(
                ORDERS_SQL, records.found["pos.sales"], records.found["pos.purchase_orders"]
            )
        ]
        document["invoices"] = await _rows(conn, INVOICES_SQL, orders)
        purchases = records.found["pos.purchase_orders"]
        document["purchase_order_lines"] = await _rows(conn, PURCHASE_LINES_SQL, purchases)
        document["order_history"] = await _rows(conn, HISTORY_SQL, orders)
    return document


async def _rows(conn: asyncpg.Connection, sql: str, ids: list[int]) -> list[Any]:
    return [json.loads(row[0]) for row in await conn.fetch(sql, ids)]
