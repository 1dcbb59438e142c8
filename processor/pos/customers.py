"""Customers (`pos.customers`): find the one a sale is to, or create it, exactly once.

A Client is found by TEvo client id, then by e-mail (its `email_key`: case-folded, trimmed); one
found by e-mail gains the client id when the order brings one it lacks. An Office is found by
its TEvo office id; any other buyer (e.g. a Brokerage) only when an operator invoices its sale,
by type and id. Concurrent orders of a new buyer race on the schema's unique indexes: each
inserts with `ON CONFLICT DO NOTHING`, the losers wait for the winner's commit and then find its
row, so the race resolves inside one attempt and there is one customer however many orders came.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

import structlog

from contracts import CLIENT, OFFICE, Order
from processor.errors import Conflict
from processor.handler import Connection, OfficeCustomers

log = structlog.get_logger(__name__)

FIND_CLIENT_BY_ID_SQL = "SELECT id FROM pos.customers WHERE tevo_client_id = $1"
# Spelled like the unique index customers_email_key so Postgres uses it.
FIND_CLIENT_BY_EMAIL_SQL = """
SELECT id FROM pos.customers
WHERE email_key = $1 AND email_key IS NOT NULL AND tevo_office_id IS NULL
"""
INSERT_CLIENT_SQL = """
INSERT INTO pos.customers (tevo_client_id, name, email, phone, address, email_key)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
ON CONFLICT DO NOTHING
RETURNING id
"""
# Only a customer without a client id, and only while no other customer holds that id.
GAIN_CLIENT_ID_SQL = """
UPDATE pos.customers SET tevo_client_id = $2
WHERE id = $1 AND tevo_client_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM pos.customers WHERE tevo_client_id = $2)
"""
FIND_BUYER_SQL = "SELECT id FROM pos.customers WHERE tevo_buyer_type = $1 AND tevo_buyer_id = $2"
INSERT_BUYER_SQL = """
INSERT INTO pos.customers (tevo_buyer_type, tevo_buyer_id, name) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING id
"""
FIND_OFFICE_SQL = "SELECT id FROM pos.customers WHERE tevo_office_id = $1"
INSERT_OFFICE_SQL = """
INSERT INTO pos.customers (tevo_office_id, name) VALUES ($1, $2)
ON CONFLICT DO NOTHING
RETURNING id
"""


def email_key(address: str | None) -> str | None:
    """The key a customer is matched by: trimmed, NFC, Unicode case-folded; None when blank.

    Folded here, not by Postgres' `lower()`, whose result depends on the database's ctype (only
    ASCII under C): every script of every deployment must fold one address to one key.
    """
    if address is None or not address.strip():
        return None
    return unicodedata.normalize("NFC", address.strip().casefold())


@dataclass(frozen=True)
class ClientInfo:
    """Who a Client sale is to, from the order's `client` and `buyer`."""

    tevo_client_id: int | None
    name: str | None
    email: str | None
    phone: str | None
    address: dict[str, Any] | None

    @classmethod
    def of(cls, order: Order) -> ClientInfo:
        client, buyer = order.client, order.buyer
        return cls(
            tevo_client_id=(client.id if client else None) or (buyer.id if buyer else None),
            name=(client.name if client else None) or (buyer.name if buyer else None),
            email=client.email if client else None,
            phone=client.phone if client else None,
            address=(
                client.primary_billing_address or client.primary_shipping_address
                if client
                else None
            ),
        )


@dataclass(frozen=True)
class Found:
    """A sale's customer, and whether the process may remember it once the transaction commits."""

    customer_id: int | None
    office_id: int | None = None  # set for an Office customer read or created here


async def customer_for(
    conn: Connection, order: Order, offices: OfficeCustomers, *, any_buyer: bool = False
) -> Found:
    """The customer for the order's buyer, created on first sight; `customer_id` None when it has
    none. An Office customer already committed is taken from `offices` without a query.
    `any_buyer`: a person decided to invoice, so a buyer of another type gets a customer too."""
    buyer = order.buyer
    if buyer is None:
        return Found(None)
    if buyer.type == OFFICE and buyer.id is not None:
        known = offices.get(buyer.id)
        if known is not None:
            return Found(known)
        return Found(await _office(conn, buyer.id, buyer.name), office_id=buyer.id)
    if buyer.type == CLIENT:
        info = ClientInfo.of(order)
        if info.tevo_client_id is not None or info.email is not None:
            return Found(await _client(conn, info))
    elif any_buyer and buyer.type and buyer.id is not None:
        return Found(await _other_buyer(conn, buyer.type, buyer.id, buyer.name))
    return Found(None)


async def _other_buyer(conn: Connection, kind: str, buyer_id: int, name: str | None) -> int:
    found: int | None = await conn.fetchval(FIND_BUYER_SQL, kind, buyer_id)
    if found is None:
        found = await conn.fetchval(INSERT_BUYER_SQL, kind, buyer_id, name)
        if found is not None:
            log.info("customer.created", customer_id=found, kind=kind)
        else:  # a concurrent operator won the insert
            found = await conn.fetchval(FIND_BUYER_SQL, kind, buyer_id)
    if found is None:
        raise Conflict("buyer customer conflicted on insert but cannot be found")
    return found


async def _office(conn: Connection, office_id: int, name: str | None) -> int:
    found: int | None = await conn.fetchval(FIND_OFFICE_SQL, office_id)
    if found is None:
        found = await conn.fetchval(INSERT_OFFICE_SQL, office_id, name)
        if found is not None:
            log.info("customer.created", customer_id=found, kind=OFFICE, tevo_office_id=office_id)
        else:
            found = await conn.fetchval(FIND_OFFICE_SQL, office_id)
    if found is None:
        raise Conflict("office customer conflicted on insert but cannot be found")
    return found


async def _client(conn: Connection, info: ClientInfo) -> int:
    found = await _find_client(conn, info)
    if found is not None:
        return found
    address = None if info.address is None else json.dumps(info.address)
    created: int | None = await conn.fetchval(
        INSERT_CLIENT_SQL,
        info.tevo_client_id,
        info.name,
        info.email,
        info.phone,
        address,
        email_key(info.email),
    )
    if created is not None:
        # ids only: the name, e-mail and phone are the buyer's personal data
        log.info("customer.created", customer_id=created, kind=CLIENT)
        return created
    found = await _find_client(conn, info)  # a concurrent order of this client won the insert
    if found is None:
        raise Conflict("client customer conflicted on insert but cannot be found")
    return found


async def _find_client(conn: Connection, info: ClientInfo) -> int | None:
    found: int | None = None
    if info.tevo_client_id is not None:
        found = await conn.fetchval(FIND_CLIENT_BY_ID_SQL, info.tevo_client_id)
        if found is not None:
            return found
    if info.email is not None:
        found = await conn.fetchval(FIND_CLIENT_BY_EMAIL_SQL, email_key(info.email))
    if found is not None and info.tevo_client_id is not None:
        await conn.execute(GAIN_CLIENT_ID_SQL, found, info.tevo_client_id)
    return found
