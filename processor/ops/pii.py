"""Mask a buyer's personal data in a stored body, a text or a message, irreversibly.

Two ways, used together. By key: the fields of an order that hold contact details (e-mails,
phones, addresses, a client's or a Client buyer's name) are emptied wherever they sit, whoever
they are about; retention uses this alone. By value: every string that contains one of the
`needles` (the e-mails, names and phones of a person being erased, compared casefolded) becomes
`ERASED`, which reaches the person's data wherever TEvo put it (a note, a delivery, an error
message). Ids, amounts, items and states stay: a sale still settles from a masked body.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

ERASED = "[erased]"
# Emptied wherever they appear: a list becomes [], anything else None.
CONTACT_KEYS = frozenset(
    {
        "email",
        "email_address",
        "email_addresses",
        "phone",
        "phone_number",
        "phone_numbers",
        "address",
        "addresses",
        "primary_shipping_address",
        "primary_billing_address",
        "shipping_address",
        "billing_address",
        "first_name",
        "last_name",
        "recipient_name",
        "attention",
    }
)
# Objects that stand for a person: their `name` is personal data too. A seller or an office is
# a business; a buyer is a person only when its type says Client.
PERSON_KEYS = frozenset({"client", "customer", "recipient"})
CLIENT = "Client"


def fold(text: str) -> str:
    """How e-mails and names compare: Unicode casefold and NFC, as `pos.customers.email_key`
    does, surrounding blanks ignored."""
    return unicodedata.normalize("NFC", text.strip().casefold())


def needles_of(values: Iterable[str | None]) -> tuple[str, ...]:
    """The distinct, non-trivial strings to look for, casefolded and lowered (SQL compares
    lower(): `Straße` lowers to itself but casefolds to `strasse`); at least 3 characters, a
    shorter name would mask half of every body."""
    found = {
        form
        for v in values
        if v is not None and len(fold(v)) >= 3
        for form in (fold(v), v.strip().lower())
    }
    return tuple(sorted(found, key=len, reverse=True))


def contains(text: str, needles: tuple[str, ...]) -> bool:
    folded = text.casefold()
    return any(needle in folded for needle in needles)


def mask(value: Any, needles: tuple[str, ...] = (), *, person: bool = False) -> Any:
    """A copy of a JSON value with its contact fields emptied and every string that holds a
    needle replaced by `ERASED`; `person` says the value is an object about a person."""
    if isinstance(value, dict):
        is_person = person or value.get("type") == CLIENT
        masked: dict[str, Any] = {}
        for key, item in value.items():
            if key in CONTACT_KEYS:
                masked[key] = [] if isinstance(item, list) else None
            elif key == "name" and is_person and isinstance(item, str):
                masked[key] = ERASED
            else:
                masked[key] = mask(item, needles, person=key in PERSON_KEYS)
        return masked
    if isinstance(value, list):
        return [mask(item, needles) for item in value]
    if isinstance(value, str) and needles and contains(value, needles):
        return ERASED
    return value


def scrub(text: str, needles: tuple[str, ...]) -> str:
    """`text` with every occurrence of a needle (in any case) replaced by `ERASED`; all of it
    when a needle is still there after that (a spelling that only casefolds to it)."""
    for needle in needles:
        text = _pattern(needle).sub(ERASED, text)
    return ERASED if contains(text, needles) else text


def mask_bytes(body: bytes, needles: tuple[str, ...]) -> bytes:
    """A message body masked: as JSON when it is JSON, else its text scrubbed."""
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return scrub(body.decode(errors="replace"), needles).encode()
    return json.dumps(mask(parsed, needles), separators=(",", ":")).encode()


def _pattern(needle: str) -> re.Pattern[str]:
    return re.compile(re.escape(needle), re.IGNORECASE)
