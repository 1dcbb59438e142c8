"""What a handler may use besides its transaction: settings, TEvo's orders, known office customers.

Built once by `processor.app` and given to every handler. Nothing here does I/O of its own: the
TEvo API is a Protocol, so the handler contract never imports the HTTP client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from processor.settings import ProcessorSettings


class OrdersApi(Protocol):
    """What verification needs of TEvo's API (`processor.tevo.api.TevoApi`); tests give a fake."""

    async def get_order(self, order_id: int) -> dict[str, Any] | None: ...


class OfficeCustomers:
    """Office id -> POS customer id, for customers whose row is committed.

    Filled only through `Applied.after_commit`, so an id whose insert was rolled back is never
    served. Customers are never deleted, so an entry stays true; the map is bounded all the same.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}

    def get(self, office_id: int) -> int | None:
        return self._ids.get(office_id)

    def remember(self, office_id: int, customer_id: int) -> None:
        if len(self._ids) >= self.LIMIT:
            self._ids.clear()
        self._ids[office_id] = customer_id


@dataclass(frozen=True)
class Deps:
    """Everything a handler may use besides its transaction."""

    settings: ProcessorSettings
    # TEvo's API, to check a webhook before acting on it; None: verification is off.
    tevo_api: OrdersApi | None = None
    # Office customer ids known to be committed, so a sale to TEvo (office 6) needs no lookup.
    offices: OfficeCustomers = field(default_factory=OfficeCustomers)
