"""Create or upgrade the POS schema from the numbered files in `processor/migrations/`.

Safe to run twice and from two places at once: a session advisory lock serializes migrators,
and each file runs in its own transaction together with its row in `pos.schema_migrations`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from processor.migrations import migration_files
from processor.ops.email_keys import fold_email_keys

log = structlog.get_logger(__name__)

# What a migration needs Python for (a fold Postgres cannot do the same under every locale),
# run after its SQL in the same transaction.
DATA_STEPS: dict[int, Callable[[asyncpg.Connection], Awaitable[None]]] = {7: fold_email_keys}
# An arbitrary constant: every migrator of every deployment takes the same lock.
MIGRATION_LOCK_KEY = 7_340_117_001


async def migrate(database_url: str) -> list[int]:
    """Apply what is missing; return the versions applied now."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            """
            CREATE SCHEMA IF NOT EXISTS pos;
            CREATE TABLE IF NOT EXISTS pos.schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        done = {
            row["version"] for row in await conn.fetch("SELECT version FROM pos.schema_migrations")
        }
        applied = []
        for version, name, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                step = DATA_STEPS.get(version)
                if step is not None:
                    await step(conn)
                await conn.execute(
                    "INSERT INTO pos.schema_migrations (version, name) VALUES ($1, $2)",
                    version,
                    name,
                )
            log.info("migration.applied", version=version, name=name)
            applied.append(version)
        return applied
    finally:
        await conn.close()  # closing the session releases the advisory lock


async def pending(conn: asyncpg.Connection) -> list[int]:
    """The migrations this release has that the database lacks: a command that needs the
    current schema says so in one line rather than failing on a missing table."""
    try:
        rows = await conn.fetch("SELECT version FROM pos.schema_migrations")
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        rows = []
    done = {row["version"] for row in rows}
    return [version for version, _, _ in migration_files() if version not in done]
