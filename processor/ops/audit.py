"""The record of every operator act, from the console and the command line: write it, read it.

An act is recorded in the same transaction as the change it made where there is one (a review
decision), and right after the broker confirmed it otherwise (a replay): a row says what was
done, never a body or a buyer's details.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from processor.handler import Connection

Via = Literal["console", "cli"]

INSERT_SQL = """
INSERT INTO pos.audit (operator, via, action, order_ids, message_ids, detail)
VALUES ($1, $2, $3, $4::bigint[], $5::text[], $6)
RETURNING id
"""
# $1 operator, $2 action, $3 an order id, $4 a message id (each NULL for any), $5 most rows
LIST_SQL = """
SELECT id, at, operator, via, action, order_ids, message_ids, detail FROM pos.audit
WHERE ($1::text IS NULL OR operator = $1) AND ($2::text IS NULL OR action = $2)
  AND ($3::bigint IS NULL OR order_ids @> ARRAY[$3::bigint])
  AND ($4::text IS NULL OR message_ids @> ARRAY[$4::text])
ORDER BY at DESC, id DESC LIMIT $5
"""


@dataclass(frozen=True)
class Act:
    """One operator act: who did what to which orders and messages."""

    operator: str
    via: Via
    action: str
    detail: str = ""
    order_ids: Sequence[int] = field(default_factory=tuple)
    message_ids: Sequence[str] = field(default_factory=tuple)


def cli_operator(given: str | None) -> str:
    """The operator a command records: `--by NAME`, else the OS user."""
    return given or getpass.getuser()


async def record(conn: Connection, act: Act) -> int:
    """Store `act`; its id."""
    row = await conn.fetchrow(
        INSERT_SQL,
        act.operator,
        act.via,
        act.action,
        list(act.order_ids),
        [m for m in act.message_ids if m],
        act.detail,
    )
    assert row is not None  # noqa: S101 - INSERT ... RETURNING returns its row
    return int(row["id"])


@dataclass(frozen=True)
class Query:
    """Which acts to list; None matches any."""

    operator: str | None = None
    action: str | None = None
    order_id: int | None = None
    message_id: str | None = None
    most: int = 200


async def acts(conn: Connection, query: Query) -> list[dict[str, Any]]:
    """The acts `query` matches, newest first."""
    rows = await conn.fetch(
        LIST_SQL, query.operator, query.action, query.order_id, query.message_id, query.most
    )
    return [dict(r.items()) for r in rows]


ONE_SQL = """
SELECT id, at, operator, via, action, order_ids, message_ids, detail FROM pos.audit WHERE id = $1
"""


async def one(conn: Connection, act_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(ONE_SQL, act_id)
    return None if row is None else dict(row.items())
