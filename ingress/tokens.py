"""Webhook tokens: the constant-time check of a presented token, and what makes one strong.

TEvo does not sign its webhooks: the secret in `/webhooks/tevo/{token}` is all that tells TEvo
from a forger, so it must be unguessable. `secrets.token_urlsafe(32)` is the intended kind.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable

MIN_LENGTH = 24
MIN_DISTINCT = 8  # "aaaa…" and "abab…" are long but not secret
MIN_BITS = 128
# A path segment: only RFC 3986's unreserved characters arrive unchanged through every client.
TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9._~-]+")
_CLASSES = (
    (re.compile(r"[a-z]"), 26),
    (re.compile(r"[A-Z]"), 26),
    (re.compile(r"[0-9]"), 10),
    (re.compile(r"[._~-]"), 4),
)
# Words of sample configurations; the quick start's token has one on purpose.
PLACEHOLDERS = ("changeme", "example", "password", "placeholder", "secret")


def token_matches(candidate: str, tokens: Iterable[str]) -> bool:
    """True if `candidate` is one of `tokens`, in time that says nothing about which or how."""
    # Digests give every comparison the same length: timing reveals no token's length, and
    # comparing with every token, always, reveals no near match.
    presented = _digest(candidate)
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented, _digest(token))
    return matched


def _digest(text: str) -> bytes:
    # surrogatepass: a path decoded into lone surrogates must be refused, not crash the handler.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def estimated_bits(token: str) -> float:
    """Length times log2 of the alphabet its character classes span: an upper bound."""
    alphabet = sum(size for pattern, size in _CLASSES if pattern.search(token))
    return len(token) * math.log2(alphabet) if alphabet > 1 else 0.0


def token_problem(token: str) -> str | None:
    """Why `token` is too weak to guard the POS, or None. The answer never quotes the token."""
    if len(token) < MIN_LENGTH:
        return f"shorter than {MIN_LENGTH} characters"
    if not TOKEN_ALPHABET.fullmatch(token):
        return "has characters other than A-Z a-z 0-9 - _ . ~ (it travels in a URL path)"
    if len(set(token)) < MIN_DISTINCT:
        return f"fewer than {MIN_DISTINCT} different characters"
    squashed = re.sub(r"[._~-]", "", token.lower())
    if any(word in squashed for word in PLACEHOLDERS):
        return "looks like a placeholder from a sample configuration"
    bits = estimated_bits(token)
    if bits < MIN_BITS:
        return f"about {bits:.0f} bits by its character classes, fewer than {MIN_BITS}"
    return None


def weak_tokens(tokens: Iterable[str]) -> list[tuple[int, str]]:
    """(1-based position in TEVO_WEBHOOK_TOKENS, problem) of every weak token."""
    return [
        (position, problem)
        for position, token in enumerate(tokens, start=1)
        if (problem := token_problem(token)) is not None
    ]
