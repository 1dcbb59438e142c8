"""Is the database's schema at the code's version? Asked at start and by a pause's probe.

A processor started before `python -m processor migrate`, or on a schema one migration behind,
would fail every message on a missing table or column: no fault of the messages. It says so in
one line and waits, not ready, until `migrate` has run; a message that meets a missing table
mid-run pauses consumption the same way (`processor.runtime.pause`). A schema ahead of the code
(a newer release migrated first, during a rolling update) is fine: migrations only add.
"""

from __future__ import annotations

import asyncpg

from processor.errors import SchemaNotMigrated, translate
from processor.handler import Connection
from processor.migrations import code_version

VERSION_SQL = "SELECT coalesce(max(version), 0) FROM pos.schema_migrations"


async def database_version(conn: Connection) -> int:
    """The last migration applied to the database; 0 before the first (no `pos` schema yet)."""
    try:
        version: int = await conn.fetchval(VERSION_SQL)
    except asyncpg.PostgresError as exc:
        if isinstance(translate(exc), SchemaNotMigrated):
            return 0
        raise
    return version


async def behind(pool: asyncpg.Pool) -> str | None:
    """Why the schema is not the code's (one line, naming both versions), or None when it is."""
    async with pool.acquire() as conn:
        version = await database_version(conn)
    if version >= code_version():
        return None
    return (
        f"the database schema is at version {version}, this code needs {code_version()}: "
        "run `python -m processor migrate`"
    )
