"""Find everything the POS holds on one person, and erase it: `privacy export` and `erase`.

A person is named by e-mail (matched by Unicode casefold, as `processor.ops.pii.fold` says) or by
customer id. Their records are their customers, the sales and purchase orders whose stored body
mentions them (or whose customer they are), those sales' versions, and any note that mentions
them. Erasure masks the bodies (`pii.mask`: contact fields and every string that mentions
them), empties the customer's name, e-mail, phone and address, and then, as a net for what no
one listed, replaces the person's e-mails, names and phones in every text and JSON column of
schema `pos` but the operators' own tables. Invoices, their lines and amounts stay. Erased
customers keep their TEvo ids, so a sale TEvo sends again finds its customer and settles as
before. Each act is recorded in `pos.audit` (`processor.ops.audit`: ids and counts, never the
data), in the erasure's own transaction. Running it again finds nothing left.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from processor.ops import audit
from processor.ops.audit import Act
from processor.ops.pii import ERASED, mask, needles_of
from processor.pos.customers import email_key
from processor.pos.sales import LOCK_SQL

# By the e-mail key customers are matched by (`pos.customers.email_key`: casefolded, NFC); a row
# a previous release wrote during a rollout may have only lower(): compared in Python below.
CUSTOMERS_SQL = r"""
SELECT id, tevo_client_id, name, email, phone FROM pos.customers
WHERE ($1::text IS NOT NULL AND email IS NOT NULL
       AND (email_key = $3 OR lower(btrim(email)) = lower(btrim($1))
            OR email !~ '^[\x01-\x7f]*$'))
   OR id = $2
"""
SALES_SQL = """
SELECT id, tevo_order_id FROM pos.sales
WHERE customer_id = ANY($1::bigint[]) OR lower(raw::text) LIKE ANY($2::text[])
ORDER BY tevo_order_id
"""
VERSIONS_SQL = """
SELECT id FROM pos.sale_versions
WHERE tevo_order_id = ANY($1::bigint[]) OR lower(body::text) LIKE ANY($2::text[])
ORDER BY id
"""
PURCHASES_SQL = """
SELECT id, tevo_order_id FROM pos.purchase_orders WHERE lower(raw::text) LIKE ANY($1::text[])
"""
# Each stored body: its table, key and column.
BODY_COLUMNS = {
    "pos.sales": "raw",
    "pos.sale_versions": "body",
    "pos.purchase_orders": "raw",
}
ERASE_CUSTOMER_SQL = """
UPDATE pos.customers SET name = $2, email = NULL, email_key = NULL, phone = NULL, address = NULL,
                         erased_at = coalesce(erased_at, now())
WHERE id = ANY($1::bigint[])
"""
# Every text and JSON column of the schema, for the net; not the operators' own accounts.
COLUMNS_SQL = """
SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'pos' AND data_type IN ('text', 'jsonb', 'json', 'character varying')
  AND table_name NOT IN ('schema_migrations', 'operators', 'operator_sessions')
ORDER BY table_name, column_name
"""
ORDERS_SQL = """
SELECT tevo_order_id FROM pos.sales WHERE id = ANY($1::bigint[])
UNION SELECT tevo_order_id FROM pos.purchase_orders WHERE id = ANY($2::bigint[])
ORDER BY 1
"""


class NoSubject(Exception):
    """Neither an e-mail nor a customer id was given, or the customer id does not exist."""


@dataclass(frozen=True)
class Subject:
    """One person as the POS knows them."""

    customer_ids: tuple[int, ...]
    needles: tuple[str, ...]  # casefolded e-mails, names, phones

    @property
    def patterns(self) -> list[str]:
        """LIKE patterns over lower(text) (casefold equals lower on ASCII)."""
        escaped = (re.sub(r"([\\%_])", r"\\\1", n) for n in self.needles)
        return [f"%{needle}%" for needle in escaped]


@dataclass
class Records:
    """Which records of each table an act found or changed."""

    found: dict[str, list[int]] = field(default_factory=dict)
    scrubbed: dict[str, int] = field(default_factory=dict)  # the net: column -> rows

    orders: list[int] = field(default_factory=list)  # the TEvo order ids of those records

    def as_json(self) -> dict[str, Any]:
        return {"records": self.found, "scrubbed": self.scrubbed}

    def detail(self, customers: Sequence[int], messages: int) -> str:
        """The audit's words: ids and counts only."""
        counts = ", ".join(f"{table} {len(ids)}" for table, ids in self.found.items())
        net = f"; the net changed {self.scrubbed}" if self.scrubbed else ""
        return f"customers {list(customers)}; {counts}; queued messages {messages}{net}"


async def find_subject(
    conn: asyncpg.Connection, email: str | None, customer: int | None
) -> Subject:
    if email is None and customer is None:
        raise NoSubject("give --email or --customer")
    rows = await conn.fetch(CUSTOMERS_SQL, email, customer, email_key(email))
    if email is not None:
        key = email_key(email)
        rows = [r for r in rows if r["id"] == customer or email_key(r["email"]) == key]
    elif not rows:
        raise NoSubject(f"no customer {customer}")
    values = [email, *(v for r in rows for v in (r["email"], r["name"], r["phone"]))]
    values = [v for v in values if v != ERASED]
    return Subject(tuple(r["id"] for r in rows), needles_of(values))


async def find_records(conn: asyncpg.Connection, subject: Subject) -> Records:
    patterns, ids = subject.patterns, list(subject.customer_ids)
    sales = await conn.fetch(SALES_SQL, ids, patterns)
    orders = [r["tevo_order_id"] for r in sales]
    versions = await conn.fetch(VERSIONS_SQL, orders, patterns)
    purchases = await conn.fetch(PURCHASES_SQL, patterns)
    return Records(
        {
            "pos.customers": ids,
            "pos.sales": [r["id"] for r in sales],
            "pos.sale_versions": [r["id"] for r in versions],
            "pos.purchase_orders": [r["id"] for r in purchases],
        },
        orders=sorted({*orders, *(r["tevo_order_id"] for r in purchases)}),
    )


async def erase(
    conn: asyncpg.Connection, subject: Subject, actor: str, message_ids: Sequence[str]
) -> tuple[int, Records]:
    """Erase the subject in one transaction, recorded in `pos.audit` (with the ids of the
    queued messages masked before); the audit row's id."""
    async with conn.transaction():
        records = await find_records(conn, subject)
        sales = await conn.fetch(
            "SELECT tevo_order_id FROM pos.sales WHERE id = ANY($1::bigint[]) ORDER BY 1",
            records.found["pos.sales"],
        )
        for row in sales:  # as the processor does: no sale is settled meanwhile
            await conn.execute(LOCK_SQL, row["tevo_order_id"])
        await conn.execute(ERASE_CUSTOMER_SQL, list(subject.customer_ids), ERASED)
        for table, column in BODY_COLUMNS.items():
            await _mask_bodies(conn, table, column, records.found[table], subject.needles)
        records.scrubbed = await _net(conn, subject.needles)
        act = await record(conn, "privacy.erase", actor, subject, records, message_ids=message_ids)
    return act, records


async def _mask_bodies(
    conn: asyncpg.Connection, table: str, column: str, ids: Sequence[int], needles: tuple[str, ...]
) -> None:
    rows = await conn.fetch(
        f"SELECT id, {column}::text AS body FROM {table} WHERE id = ANY($1::bigint[])",  # noqa: S608 - constants
        list(ids),
    )
    for row in rows:
        masked = json.dumps(mask(json.loads(row["body"]), needles))
        await conn.execute(
            f"UPDATE {table} SET {column} = $2::jsonb WHERE id = $1",  # noqa: S608 - constants
            row["id"],
            masked,
        )


async def _net(conn: asyncpg.Connection, needles: tuple[str, ...]) -> dict[str, int]:
    """Replace the needles in every text and JSON column of `pos`; rows changed per column."""
    if not needles:
        return {}
    pattern = "|".join(re.escape(n) for n in needles)
    changed = {}
    for row in await conn.fetch(COLUMNS_SQL):
        table, column, kind = row["table_name"], row["column_name"], row["data_type"]
        text = f'"{column}"::text' if kind in {"jsonb", "json"} else f'"{column}"'
        value = f"regexp_replace({text}, $1, $2, 'gi')"
        value = f"{value}::{kind}" if kind in {"jsonb", "json"} else value
        status = await conn.execute(
            f'UPDATE pos."{table}" SET "{column}" = {value} WHERE {text} ~* $1',  # noqa: S608 - names from the catalog
            pattern,
            ERASED,
        )
        count = int(status.rsplit(maxsplit=1)[-1])
        if count:
            changed[f"pos.{table}.{column}"] = count
    return changed


async def record(
    conn: asyncpg.Connection,
    action: str,
    actor: str,
    subject: Subject,
    records: Records,
    *,
    message_ids: Sequence[str],
) -> int:
    """The act in the operators' audit: which orders and messages, and counts in words."""
    detail = records.detail(subject.customer_ids, len(message_ids))
    act = Act(actor, "cli", action, detail, records.orders, list(message_ids))
    return await audit.record(conn, act)
