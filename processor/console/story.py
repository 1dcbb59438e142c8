"""An order's story in words: what changed between two bodies, and why the rules decided so.

`changes` compares two versions of an order body field by field (nested keys flattened to
dotted paths); `decision` says in a sentence why a sale is invoiced, waiting, held or declined.
Personal values are masked unless the dossier was revealed (`processor.console.privacy`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from processor.console.privacy import mask, personal

# Fields that change on every body and say nothing an operator looks for.
NOISE = frozenset({"updated_at"})


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def flatten(value: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf of a JSON document under its path of keys (list indexes as digits)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, (*path, key)).items()}
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in flatten(item, (*path, str(i))).items()
        }
    return {path: value}


def shown(path: tuple[str, ...], value: Any, *, reveal: bool) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value)
    if not reveal and personal(path):
        kind = (
            "email" if "email" in ".".join(path) else "phone" if "phone" in ".".join(path) else ""
        )
        return mask(text, kind)
    return text


def changes(before: Any, after: Any, *, reveal: bool) -> list[Change]:
    """What differs from `before` to `after`, field by field, in the newer body's order."""
    old, new = flatten(before), flatten(after)
    found = []
    for path in [*new, *(p for p in old if p not in new)]:
        if path[-1:] and path[-1] in NOISE and len(path) == 1:
            continue
        if old.get(path, _ABSENT) != new.get(path, _ABSENT):
            found.append(
                Change(
                    ".".join(path),
                    shown(path, old.get(path), reveal=reveal) if path in old else "(absent)",
                    shown(path, new.get(path), reveal=reveal) if path in new else "(absent)",
                )
            )
    return found


_ABSENT = object()


def decision(sale: dict[str, Any], *, riskified: bool) -> str:
    """Why the sale stands as it does, in one or two sentences."""
    status, buyer = sale["status"], sale["buyer_type"] or "unknown"
    fraud = sale["fraud_check_status"] or "none"
    words = {
        "invoiced": (
            f"Invoiced: a sale to an {buyer} is invoiced whatever Riskified says."
            if buyer == "Office"
            else f"Invoiced: a sale to a {buyer}, fraud check {fraud}"
            + ("." if riskified else " (Riskified is off: invoiced at once).")
        ),
        "awaiting_fraud_check": (
            f"Waiting: a sale to a {buyer} is invoiced only once Riskified approves it "
            f"(fraud check now: {fraud})."
        ),
        "fraud_declined": "Declined: Riskified declined the buyer; the sale is never invoiced.",
        "canceled": "Canceled: TEvo canceled or rejected the order; any invoice is voided.",
        "needs_review": f"Held for a person: a sale to a {buyer} is not invoiced by the rules.",
    }
    text = words.get(status, f"Status {status}.")
    if sale.get("review_reason"):
        text += f" Review: {sale['review_reason']}."
    if sale.get("review_decision"):
        text += (
            f" Resolved ({sale['review_decision']}) by {sale['review_decided_by']} at "
            f"{sale['review_decided_at']:%Y-%m-%d %H:%M:%S %Z}: {sale['review_note']}"
        )
    return text
