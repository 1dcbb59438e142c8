"""What of an order body is the buyer's: which fields to mask, and how a masked value reads.

A dossier masks buyers' e-mail addresses, phone numbers, names and postal addresses unless an
operator asked to reveal them (an audited act). Masking keeps enough to tell two values apart
at a glance (a first letter, a domain's last part, a phone's last two digits), never enough to
reach the person.
"""

from __future__ import annotations

import re

# Whole subtrees of an order body that describe the buyer: every leaf but an `id` is personal.
BUYER_TREES = ("client", "buyer", "recipient", "billing_address", "shipping_address")
# Elsewhere (an item, an event, the seller): only fields that are plainly a person's contact.
PERSONAL_KEYS = re.compile(r"email|phone|first_name|last_name|shipping_address|billing_address")


def personal(path: tuple[str, ...]) -> bool:
    """Whether the body field at `path` (keys, list indexes as digits) is the buyer's."""
    keys = [p for p in path if not p.isdigit()]
    if not keys:
        return False
    leaf = keys[-1]
    if keys[0] in BUYER_TREES:
        return leaf not in ("id", "type")
    return any(PERSONAL_KEYS.search(k.lower()) for k in keys)


def mask(value: object, kind: str = "") -> str:
    """A masked rendering of a personal value."""
    text = "" if value is None else str(value)
    if not text:
        return ""
    if "@" in text or kind == "email":
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@***{domain[domain.rfind('.') :] if '.' in domain else ''}"
    digits = re.sub(r"\D", "", text)
    if kind == "phone" or (len(digits) >= 6 and len(digits) >= len(text) - 4):
        return f"***{digits[-2:]}"
    return " ".join(f"{word[:1]}***" for word in text.split())
