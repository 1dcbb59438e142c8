"""Reconciliation: publish pending TEvo sales the POS has not seen, as if their webhook came.

TEvo gives up on a webhook after about an hour, so one can be lost for good. Its advice is to
poll `GET /orders?state=pending&type=Order`; every order listed there without a row in
`pos.sales` is fetched (`GET /orders/{id}`, the shape a webhook body has) and published to the
webhooks exchange as `seller.order_created`, marked `source=reconcile`. From there it is an
ordinary message: verification, the sales rules, the inbox and history apply unchanged, and a
second run, or a webhook arriving after all, finds the sale and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractExchange
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError

from contracts import EventType, Recipient, WebhookEnvelope
from contracts.envelope import HEADER_SOURCE
from processor.errors import NO_ANSWER, DatabaseUnavailable, Retryable, translate
from processor.ops.progress import Progress, Silent
from processor.runtime.republish import PUBLISH_TIMEOUT
from processor.tevo.api import TevoApi

log = structlog.get_logger(__name__)

SOURCE = "reconcile"
KNOWN_SQL = "SELECT tevo_order_id FROM pos.sales WHERE tevo_order_id = ANY($1::bigint[])"
# TEvo writes an order as `<order group id>-<order id>`, e.g. 4606857-10324712.
_GROUP_AND_ORDER = re.compile(r"^\s*(\d+)-(\d+)\s*$")


@dataclass
class Tally:
    """What one pass did, logged at its end."""

    listed: int = 0
    known: int = 0
    published: int = 0
    skipped: int = 0


def _as_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def order_ids(order: Mapping[str, Any]) -> tuple[int, int] | None:
    """(order id, order group id) of an API order, or None when either cannot be told.

    The order id is `id`, as the consumer reads it from the body. The group id is
    `order_group_id` when the API gives it, else `order_group.id`, else the left part of an
    `oid` written `<group>-<order>`.
    """
    order_id = _as_id(order.get("id"))
    nested = order.get("order_group")
    written = _GROUP_AND_ORDER.match(str(order.get("oid") or ""))
    candidates = (
        order.get("order_group_id"),
        nested.get("id") if isinstance(nested, dict) else None,
        written[1] if written else None,
    )
    group_id = next((i for i in map(_as_id, candidates) if i is not None), None)
    return None if order_id is None or group_id is None else (order_id, group_id)


async def _known(pool: asyncpg.Pool, order_ids: list[int]) -> set[int]:
    try:
        rows = await pool.fetch(KNOWN_SQL, order_ids)
    except NO_ANSWER as exc:
        raise translate(exc) or DatabaseUnavailable(type(exc).__name__) from None
    return {row["tevo_order_id"] for row in rows}


async def publish(exchange: AbstractExchange, order: dict[str, Any], order_group_id: int) -> str:
    """Publish `order` as a `seller.order_created` webhook, confirmed; return its message id."""
    body = json.dumps(order, separators=(",", ":"), ensure_ascii=False).encode()
    envelope = WebhookEnvelope(
        recipient=Recipient.SELLER,
        event_type=EventType.ORDER_CREATED,
        body=body,
        order_group_id=order_group_id,
    )
    now = datetime.now(UTC)
    message = aio_pika.Message(
        body,
        message_id=envelope.message_id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={**envelope.headers(now), HEADER_SOURCE: SOURCE},
        timestamp=now,
        app_id=SOURCE,
    )
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await exchange.publish(message, envelope.routing_key, mandatory=True)
    except (*CONNECTION_EXCEPTIONS, DeliveryError, PublishError, TimeoutError) as exc:
        raise Retryable(f"publish to RabbitMQ failed: {type(exc).__name__}") from None
    return envelope.message_id


async def _feed(api: TevoApi, exchange: AbstractExchange, order_id: int, group_id: int) -> bool:
    """Publish one unseen order as TEvo shows it; False when TEvo no longer knows it."""
    order = await api.get_order(order_id)
    if order is None:
        log.warning("reconcile.order_skipped", tevo_order_id=order_id, reason="gone from TEvo")
        return False
    message_id = await publish(exchange, order, group_id)
    log.info(
        "reconcile.order_published",
        tevo_order_id=order_id,
        order_group_id=group_id,
        message_id=message_id,
    )
    return True


async def reconcile_once(
    api: TevoApi,
    pool: asyncpg.Pool,
    exchange: AbstractExchange,
    progress: Progress | None = None,
) -> Tally:
    """One pass over every page of pending sales; raises a `ProcessingError` if it cannot end.

    `progress` counts the orders listed, out of the total TEvo's first page announces.
    """
    tally, progress = Tally(), progress if progress is not None else Silent()
    async for page in api.pages(state="pending", type="Order"):
        if page.current_page == 1:
            progress.reset(total=page.total_entries)
        tally.listed += len(page.orders)
        groups: dict[int, int] = {}
        for entry in page.orders:
            ids = order_ids(entry)
            if ids is None:
                tally.skipped += 1
                log.warning("reconcile.order_skipped", reason="no order id or order group id")
            else:
                groups[ids[0]] = ids[1]
        known = await _known(pool, list(groups))
        tally.known += len(known)
        for order_id, group_id in groups.items():
            if order_id in known:
                continue
            if await _feed(api, exchange, order_id, group_id):
                tally.published += 1
            else:
                tally.skipped += 1
        progress.update(len(page.orders))
    log.info("reconcile.pass_done", **vars(tally))
    return tally
