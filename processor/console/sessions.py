"""Console sessions: a signed cookie naming a server-side row, its CSRF token, and sign-in backoff.

The cookie holds a random token and its HMAC under TEVO_CONSOLE_SECRET_KEY; the database holds
only the token's SHA-256, the operator, the CSRF token and the expiry. A sign-in always makes a
new row (the session rotates: a token planted before sign-in is worth nothing after it), a
sign-out or a disabled operator deletes it, and a row past its expiry no longer counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from processor.handler import Connection

START_SQL = """
WITH stale AS (DELETE FROM pos.operator_sessions WHERE expires_at < now())
INSERT INTO pos.operator_sessions (token_hash, operator, csrf_token, expires_at)
VALUES ($1, $2, $3, now() + $4::interval)
"""
FIND_SQL = """
SELECT s.operator, s.csrf_token FROM pos.operator_sessions s
JOIN pos.operators o ON o.name = s.operator AND o.disabled_at IS NULL
WHERE s.token_hash = $1 AND s.expires_at > now()
"""
END_SQL = "DELETE FROM pos.operator_sessions WHERE token_hash = $1"


@dataclass(frozen=True)
class Session:
    operator: str
    csrf_token: str
    token_hash: str


def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}|{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unsigned(key: bytes, purpose: str, signed: str | None) -> str | None:
    """The value inside `signed` when its MAC is good, else None."""
    value, _, mac = (signed or "").rpartition(".")
    if not value or not hmac.compare_digest(mac, _mac(key, purpose, value)):
        return None
    return value


async def start(conn: Connection, key: bytes, operator: str, lifetime: timedelta) -> str:
    """A new session for `operator`; the cookie value."""
    token = secrets.token_urlsafe(32)
    await conn.execute(START_SQL, _hash(token), operator, secrets.token_urlsafe(32), lifetime)
    return f"{token}.{_mac(key, 'session', token)}"


async def find(conn: Connection, key: bytes, cookie: str | None) -> Session | None:
    """The live session the cookie names, or None (absent, forged, expired, signed out)."""
    token = _unsigned(key, "session", cookie)
    if token is None:
        return None
    row = await conn.fetchrow(FIND_SQL, _hash(token))
    return None if row is None else Session(row["operator"], row["csrf_token"], _hash(token))


async def end(conn: Connection, session: Session) -> None:
    await conn.execute(END_SQL, session.token_hash)


def login_nonce(key: bytes, kept: str | None = None) -> tuple[str, str]:
    """(cookie value, form token) guarding the sign-in form itself against forged posts.

    A nonce the browser `kept` from an earlier form is reused, so two open sign-in tabs work.
    """
    nonce = kept if kept and 20 <= len(kept) <= 64 and kept.isascii() else secrets.token_urlsafe(24)
    return nonce, f"{nonce}.{_mac(key, 'login', nonce)}"


def login_token_good(key: bytes, cookie: str | None, token: str | None) -> bool:
    nonce = _unsigned(key, "login", token)
    return nonce is not None and cookie is not None and hmac.compare_digest(nonce, cookie)


def csrf_good(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), session.csrf_token.encode())


class Throttle:
    """Sign-in backoff per operator name and per client address, in this process.

    After `FREE` failures in a row, the next attempt waits `FIRST` seconds, and each failure
    after that doubles the wait (up to `CEILING`); a success clears the name's and the address's
    count. Attempts refused for waiting do not count: a person who waits is not punished more.
    """

    FREE, FIRST, CEILING, BOUND = 3, 5.0, 300.0, 10_000

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._failures: dict[str, tuple[int, float]] = {}

    def wait(self, *keys: str) -> float:
        """Seconds before these keys may try again (0: now)."""
        now = self._now()
        return max((self._failures.get(k, (0, now))[1] - now for k in keys), default=0.0)

    def failed(self, *keys: str) -> None:
        if len(self._failures) >= self.BOUND:
            self._failures.clear()  # a flood of names: forget, rather than grow without end
        now = self._now()
        for k in keys:
            count = self._failures.get(k, (0, now))[0] + 1
            extra = count - self.FREE - 1
            delay = 0.0 if extra < 0 else min(self.FIRST * 2.0**extra, self.CEILING)
            self._failures[k] = (count, now + delay)

    def succeeded(self, *keys: str) -> None:
        for k in keys:
            self._failures.pop(k, None)
