"""Migration 007's data step: fold every customer's e-mail key and merge the ones that are one.

Before 007 the unique index and the matching rule used Postgres' `lower()`, which under a C
ctype folds only ASCII: `ZOË@X.COM` and `zoë@x.com` became two customers. Here each key is
folded once by `email_key`, the customers sharing a key become the oldest of them (every row
that points at a customer, whatever its table, points at the survivor), and only then is the
unique index built, so the migration cannot fail on the duplicates it came to remove.
"""

from __future__ import annotations

from collections import defaultdict

import asyncpg
import structlog

from processor.pos.customers import email_key

log = structlog.get_logger("processor.ops.email_keys")

# Every (table, column) with a foreign key to pos.customers: read from the catalog, so a table
# that gains one later is repointed too when this runs on an older schema.
REFERENCES_SQL = """
SELECT c.conrelid::regclass::text AS tab, a.attname AS col
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = 'pos.customers'::regclass
"""
# What the merged rows knew, oldest first: the survivor takes what it lacks.
GONE_SQL = """
SELECT (array_agg(tevo_client_id ORDER BY id) FILTER (WHERE tevo_client_id IS NOT NULL))[1]
           AS tevo_client_id,
       (array_agg(name ORDER BY id) FILTER (WHERE name IS NOT NULL))[1] AS name,
       (array_agg(phone ORDER BY id) FILTER (WHERE phone IS NOT NULL))[1] AS phone,
       (array_agg(address ORDER BY id) FILTER (WHERE address IS NOT NULL))[1] AS address
FROM pos.customers WHERE id = ANY($1::bigint[])
"""
ABSORB_SQL = """
UPDATE pos.customers SET
    tevo_client_id = coalesce(tevo_client_id, $2),
    name = coalesce(name, $3),
    phone = coalesce(phone, $4),
    address = coalesce(address, $5::jsonb)
WHERE id = $1
"""
INDEX_SQL = """
CREATE UNIQUE INDEX customers_email_key ON pos.customers (email_key)
    WHERE email_key IS NOT NULL AND tevo_office_id IS NULL
"""


async def fold_email_keys(conn: asyncpg.Connection) -> None:
    """Set `email_key` on every customer, merge duplicates, build the unique index."""
    rows = await conn.fetch(
        "SELECT id, email, tevo_office_id FROM pos.customers WHERE email IS NOT NULL ORDER BY id"
    )
    keys = [(row["id"], email_key(row["email"])) for row in rows]
    groups: defaultdict[str, list[int]] = defaultdict(list)
    for row, (_, key) in zip(rows, keys, strict=True):
        if key is not None and row["tevo_office_id"] is None:
            groups[key].append(row["id"])
    references = await conn.fetch(REFERENCES_SQL)
    merged = 0
    for keep, *gone in (ids for ids in groups.values() if len(ids) > 1):
        await _merge(conn, keep, gone, references)
        merged += len(gone)
    await conn.execute(
        "UPDATE pos.customers AS c SET email_key = k.key"
        " FROM unnest($1::bigint[], $2::text[]) AS k (id, key) WHERE c.id = k.id",
        [customer for customer, _ in keys],
        [key for _, key in keys],
    )
    await conn.execute(INDEX_SQL)
    log.info("migration.email_keys_folded", customers=len(keys), merged=merged)


async def _merge(
    conn: asyncpg.Connection, keep: int, gone: list[int], references: list[asyncpg.Record]
) -> None:
    for ref in references:
        # names from the catalog, quoted by Postgres itself: not input
        await conn.execute(
            f"UPDATE {ref['tab']} SET {_quoted(ref['col'])} = $1"  # noqa: S608
            f" WHERE {_quoted(ref['col'])} = ANY($2::bigint[])",
            keep,
            gone,
        )
    known = await conn.fetchrow(GONE_SQL, gone)
    # the merged rows go before the survivor may take their client id (a unique column)
    await conn.execute("DELETE FROM pos.customers WHERE id = ANY($1::bigint[])", gone)
    await conn.execute(ABSORB_SQL, keep, *(known.values() if known else ()))
    log.info("customer.merged", customer_id=keep, merged=len(gone))


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
