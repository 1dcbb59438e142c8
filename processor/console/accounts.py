"""Operator accounts: add, list, disable, and check a password, hashed with scrypt.

scrypt (the standard library's, RFC 7914) is memory-hard: n=2**15, r=8 takes 32 MiB and tens
of milliseconds per guess. The stored string carries its parameters and salt, so raising them
later leaves existing hashes readable.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from processor.handler import Connection

SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**15, 8, 1, 32
MAX_MEMORY = 64 * 1024 * 1024
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

ADD_SQL = "INSERT INTO pos.operators (name, password_hash) VALUES ($1, $2)"
LIST_SQL = "SELECT name, created_at, disabled_at FROM pos.operators ORDER BY name"
DISABLE_SQL = """
WITH gone AS (DELETE FROM pos.operator_sessions WHERE operator = $1)
UPDATE pos.operators SET disabled_at = coalesce(disabled_at, now()) WHERE name = $1
RETURNING disabled_at
"""
HASH_SQL = "SELECT password_hash FROM pos.operators WHERE name = $1 AND disabled_at IS NULL"
# Checked against when the name is unknown, so that a wrong name costs as long as a wrong
# password and the answer's timing does not say which names exist.
_DECOY = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class AccountError(ValueError):
    """An operator name or password the accounts refuse; the message says why."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=KEY_BYTES
    )


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$key`, base64 parts."""
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    parts = (base64.b64encode(salt).decode(), base64.b64encode(key).decode())
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${parts[0]}${parts[1]}"


def password_matches(password: str, stored: str) -> bool:
    scheme, n, r, p, salt, key = stored.split("$")
    if scheme != "scrypt":
        return False
    found = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(found, base64.b64decode(key))


def check_new(name: str, password: str) -> None:
    if not NAME.match(name):
        raise AccountError("an operator name is 1 to 64 letters, digits, or . _ @ -")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")


async def add(conn: Connection, name: str, password: str) -> None:
    """Add an operator; `AccountError` when the name or password is refused or taken."""
    check_new(name, password)
    try:
        await conn.execute(ADD_SQL, name, await asyncio.to_thread(hash_password, password))
    except asyncpg.UniqueViolationError:
        raise AccountError(f"operator {name} exists already") from None


@dataclass(frozen=True)
class Operator:
    name: str
    created_at: datetime
    disabled_at: datetime | None


async def listing(conn: Connection) -> list[Operator]:
    return [Operator(**dict(r.items())) for r in await conn.fetch(LIST_SQL)]


async def disable(conn: Connection, name: str) -> bool:
    """Disable an operator and end their sessions; False when there is no such operator."""
    return await conn.fetchrow(DISABLE_SQL, name) is not None


async def authenticate(conn: Connection, name: str, password: str) -> bool:
    """Whether `name` is an enabled operator with this password."""
    stored: Any = await conn.fetchval(HASH_SQL, name) if NAME.match(name) else None
    # In a thread: a guess costs tens of milliseconds the event loop does not wait out.
    matches = await asyncio.to_thread(password_matches, password[:MAX_PASSWORD], stored or _DECOY)
    return stored is not None and matches
