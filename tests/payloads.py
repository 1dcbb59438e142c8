"""Real-shaped TEvo webhooks for tests: captured order bodies, varied by keyword, form-encoded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

FIXTURES = Path(__file__).parent / "fixtures"


def order(name: str = "order_office", **changes: Any) -> dict[str, Any]:
    """A captured order body (`tests/fixtures/<name>.json`) with top-level fields replaced."""
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    body.update(changes)
    return body


def form(
    body: dict[str, Any] | str,
    *,
    event_type: str = "order_created",
    recipient: str = "seller",
    order_group_id: int | str | None = 4606857,
    **extra: str,
) -> str:
    """The form TEvo posts: `order_group_id`, `recipient`, `event_type`, `body`."""
    fields: dict[str, str] = {"recipient": recipient, "event_type": event_type}
    if order_group_id is not None:
        fields["order_group_id"] = str(order_group_id)
    fields["body"] = body if isinstance(body, str) else json.dumps(body)
    fields.update(extra)
    return urlencode(fields)


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
