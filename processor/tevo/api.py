"""A small client of TEvo's API: signed GETs of orders, bounded retries, errors in our tree.

Every request carries `X-Token` and `X-Signature` as TEvo documents them. 5xx, 429 and network
failures are retried a few times with a growing delay (honouring `Retry-After` up to a bound),
then become `UpstreamUnavailable`; the message's own retry schedule takes over from there.
aiohttp's exceptions never leave this module, and neither the token, the secret nor a signature
ever reaches a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import structlog
from pydantic import SecretStr
from yarl import URL

from contracts.exact import loads
from processor.errors import UpstreamRejected, UpstreamUnauthorized, UpstreamUnavailable
from processor.settings import ProcessorSettings
from processor.tevo.retry import Reply, RetryPolicy, Sleep, send_with_retries

log = structlog.get_logger(__name__)

PER_PAGE_MAX = 100  # TEvo's largest page
# A guard against an API that always claims another page: 100 000 pending orders is plenty.
MAX_PAGES = 1000


def canonical_query(params: Mapping[str, str | int]) -> str:
    """The query string as TEvo signs it: parameters sorted by name, form-encoded."""
    return urlencode(sorted((name, str(value)) for name, value in params.items()))


def sign(secret: str, method: str, host: str, path: str, payload: str = "") -> str:
    """TEvo's `X-Signature`: base64(HMAC-SHA256(secret, "<METHOD> <host><path>?<payload>")).

    `payload` is the canonical query for GET and DELETE, the JSON body for POST and PUT. The `?`
    is there even when `payload` is empty: TEvo signs it that way and refuses a signature
    without it.
    """
    message = f"{method.upper()} {host}{path}?{payload}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def read_reply(reply: Reply, what: str) -> Any | None:
    """The JSON of a final reply; None for 404; our own error for anything else."""
    if reply.status == 404:
        return None
    if reply.status in (401, 403):
        raise UpstreamUnauthorized(
            f"TEvo API {what}: HTTP {reply.status}; check TEVO_API_TOKEN and TEVO_API_SECRET"
        )
    if 400 <= reply.status < 500:
        raise UpstreamRejected(f"TEvo API {what}: HTTP {reply.status}")
    if not 200 <= reply.status < 300:
        raise UpstreamUnavailable(f"TEvo API {what}: unexpected HTTP {reply.status}")
    try:
        return loads(reply.body)  # numbers kept exact, as in a webhook's body
    except ValueError:  # the text may quote a buyer: never put it in the error
        raise UpstreamUnavailable(f"TEvo API {what}: the answer is not JSON") from None


@dataclass(frozen=True)
class OrderPage:
    """One page of `GET /orders`, in TEvo's list shape."""

    current_page: int
    per_page: int
    total_entries: int
    orders: list[dict[str, Any]]

    @property
    def is_last(self) -> bool:
        return not self.orders or self.current_page * self.per_page >= self.total_entries


def _object(found: Any, what: str) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise UpstreamUnavailable(f"TEvo API {what}: the answer is not a JSON object")
    return found


def _page(found: Any, what: str) -> OrderPage:
    answer = _object(found, what)
    orders = answer.get("orders")
    if not isinstance(orders, list):
        raise UpstreamUnavailable(f"TEvo API {what}: not a list of orders")
    try:
        return OrderPage(
            int(answer["current_page"]),
            int(answer["per_page"]),
            int(answer["total_entries"]),
            [_object(order, what) for order in orders],
        )
    except (KeyError, TypeError, ValueError):
        raise UpstreamUnavailable(f"TEvo API {what}: not a list of orders") from None


class TevoApi:
    """TEvo's API under `base_url` (e.g. `https://api.ticketevolution.com/v9`); handlers see it
    as a `processor.handler.OrdersApi`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: SecretStr,
        secret: SecretStr,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        self._token = token
        self._secret = secret
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    async def get_order(self, order_id: int) -> dict[str, Any] | None:
        """`GET /orders/{id}`: the order, or None when TEvo does not know it."""
        what = f"GET /orders/{order_id}"
        found = await self._get(f"/orders/{order_id}", {})
        return None if found is None else _object(found, what)

    async def list_orders(
        self,
        *,
        state: str | None = None,
        type: str | None = None,  # TEvo's parameter name: calls read like its documentation
        page: int = 1,
        per_page: int = PER_PAGE_MAX,
    ) -> OrderPage:
        """`GET /orders`: one page of orders filtered by `state` and `type` (`Order`: sales)."""
        params = {"state": state, "type": type, "page": page, "per_page": per_page}
        found = await self._get("/orders", {k: v for k, v in params.items() if v is not None})
        if found is None:
            raise UpstreamRejected("TEvo API GET /orders: HTTP 404; check TEVO_API_URL")
        return _page(found, "GET /orders")

    async def pages(
        self,
        *,
        state: str | None = None,
        type: str | None = None,
        per_page: int = PER_PAGE_MAX,
    ) -> AsyncIterator[OrderPage]:
        """Every page of `GET /orders`, first to last."""
        for number in range(1, MAX_PAGES + 1):
            page = await self.list_orders(state=state, type=type, page=number, per_page=per_page)
            yield page
            if page.is_last:
                return
        log.warning("tevo_api.too_many_pages", pages=MAX_PAGES)

    async def _get(self, path: str, params: Mapping[str, str | int]) -> Any | None:
        full_path = self._base.path + path
        query = canonical_query(params)
        host = self._base.host_port_subcomponent or ""
        signature = sign(self._secret.get_secret_value(), "GET", host, full_path, query)
        headers = {
            "X-Token": self._token.get_secret_value(),
            "X-Signature": signature,
            "Accept": "application/json",
        }
        # Built already encoded, so the bytes sent are the bytes signed.
        url = URL(f"{self._base.origin()}{full_path}?{query}", encoded=True)
        what = f"GET {path}"
        reply = await send_with_retries(
            lambda: self._send(url, headers), self._policy, self._sleep, what
        )
        return read_reply(reply, what)

    async def _send(self, url: URL, headers: dict[str, str]) -> Reply:
        try:
            # No redirects: they would carry X-Token to wherever the redirect points.
            async with self._session.get(url, headers=headers, allow_redirects=False) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's text may quote the request (and its headers): keep only its type.
            raise UpstreamUnavailable(type(exc).__name__) from None
        return Reply(response.status, response.headers.get("Retry-After"), body)


async def open_api(stack: AsyncExitStack, settings: ProcessorSettings) -> TevoApi | None:
    """A client whose session closes with `stack`; None when no credentials are configured."""
    if settings.api_token is None or settings.api_secret is None:
        return None
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.api_timeout))
    stack.push_async_callback(session.close)
    return TevoApi(
        session,
        settings.api_url,
        settings.api_token,
        settings.api_secret,
        policy=RetryPolicy(attempts=settings.api_attempts),
    )
