"""Set a namespace's queue policies on the broker through RabbitMQ's management API.

`migrate` declares queues over AMQP, which cannot set a policy; without one, RabbitMQ 4 gives
every quorum queue a delivery limit of 20 and a dead letter read 20 times is dropped. So
`migrate` also PUTs the generated policies (`processor.ops.definitions.policies`), one request
each: a PUT replaces a policy of that name, so running it twice, or from two places at once,
leaves the same policies. The API's address is `TEVO_RABBITMQ_API_URL`, by default port 15672 of
the first `TEVO_AMQP_URL` node with its credentials. Errors are translated here into
`PoliciesNotSet`, whose message says what failed, never a credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp

from processor.ops.definitions import PolicySpec

MANAGEMENT_PORT = 15672
TIMEOUT = aiohttp.ClientTimeout(total=10)


class PoliciesNotSet(Exception):
    """The management API could not be reached, or refused a policy."""


@dataclass(frozen=True)
class ManagementApi:
    """Where the management API answers (`http://host:15672/api`), and as whom."""

    base: str
    username: str
    password: str

    @classmethod
    def of(cls, amqp_url: str, api_url: str | None = None) -> ManagementApi:
        """From `api_url` when set (credentials in it, else the AMQP URL's), else derived from
        the AMQP URL: same host, port 15672, same credentials."""
        amqp = urlsplit(amqp_url)
        user, password = unquote(amqp.username or "guest"), unquote(amqp.password or "guest")
        if api_url:
            api = urlsplit(api_url)
            if api.username:
                user, password = unquote(api.username), unquote(api.password or "")
            port = f":{api.port}" if api.port else ""
            path = api.path.rstrip("/") or "/api"
            return cls(f"{api.scheme}://{api.hostname}{port}{path}", user, password)
        scheme = "https" if amqp.scheme == "amqps" else "http"
        return cls(f"{scheme}://{amqp.hostname}:{MANAGEMENT_PORT}/api", user, password)

    @property
    def where(self) -> str:
        """The address without credentials, for messages."""
        return self.base


async def apply_policies(api: ManagementApi, vhost: str, specs: Sequence[PolicySpec]) -> int:
    """PUT every policy of `specs` in `vhost`; how many. Raises `PoliciesNotSet`."""
    async with _session(api) as session:
        for spec in specs:
            body = {
                "pattern": spec.pattern,
                "definition": spec.definition,
                "priority": spec.priority,
                "apply-to": spec.apply_to,
            }
            await _call(session, "PUT", _policy_url(api, vhost, spec.name), body)
    return len(specs)


async def delete_policies(api: ManagementApi, vhost: str, names: Sequence[str]) -> int:
    """Delete the policies named (those absent count as deleted); how many were there."""
    deleted = 0
    async with _session(api) as session:
        for name in names:
            deleted += await _call(session, "DELETE", _policy_url(api, vhost, name), None)
    return deleted


async def list_policies(api: ManagementApi, vhost: str) -> list[dict[str, Any]]:
    """The policies of `vhost` as the API lists them."""
    async with _session(api) as session:
        try:
            async with session.get(f"{api.base}/policies/{quote(vhost, safe='')}") as response:
                if response.status != 200:
                    raise PoliciesNotSet(f"{api.where} answered {response.status}")
                found: list[dict[str, Any]] = await response.json()
                return found
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PoliciesNotSet(f"{api.where} not reachable ({type(exc).__name__})") from None


def _session(api: ManagementApi) -> aiohttp.ClientSession:
    auth = aiohttp.encode_basic_auth(api.username, api.password)
    return aiohttp.ClientSession(headers={"Authorization": auth}, timeout=TIMEOUT)


def _policy_url(api: ManagementApi, vhost: str, name: str) -> str:
    return f"{api.base}/policies/{quote(vhost, safe='')}/{quote(name, safe='')}"


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any] | None
) -> int:
    """1 when the API did it, 0 for a DELETE of what was not there."""
    try:
        async with session.request(method, url, json=body) as response:
            if method == "DELETE" and response.status == 404:
                return 0
            if response.status in {401, 403}:
                raise PoliciesNotSet(f"{_base(url)} refused the credentials ({response.status})")
            if response.status not in {200, 201, 204}:
                detail = (await response.text())[:200]
                raise PoliciesNotSet(f"{_base(url)} answered {response.status}: {detail}")
            return 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PoliciesNotSet(f"{_base(url)} not reachable ({type(exc).__name__})") from None


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"
