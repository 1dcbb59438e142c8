"""How the HTTP server around the app runs: the limits on slow clients, a token-free access log.

`python -m ingress` and the tests build the server with the same `server_options`, so what the
tests prove about timeouts and logs is what production runs.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from aiohttp import web, web_response
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from ingress.settings import IngressSettings

log = structlog.get_logger(__name__)

SERVER = "tevo-pos-webhooks"  # no version: a scanner learns nothing to look up
WEBHOOK_ROUTE = "/webhooks/tevo/{token}"
ROUTE = web.RequestKey("route", str)


@web.middleware
async def remember_route(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Note the matched route's template for the access log, which must not read the path."""
    resource = request.match_info.route.resource
    if resource is not None:
        request[ROUTE] = resource.canonical
    return await handler(request)


class AccessLog(AbstractAccessLogger):
    """One `http.request` event per request, naming the route's template, never the path.

    The path holds the token; a path that matched no route may hold one too (a typo, an extra
    slash), so unmatched paths are not logged at all. At debug level: every answer of the webhook
    route already has its own event at info or above (`webhook.accepted` with its `seconds`,
    `webhook.rejected`, ...), and a second line per webhook cost as much as the first.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # Requests the HTTP parser refused never reached a route, nor the middleware.
        log.debug(
            "http.request",
            method=request.method,
            route=request.get(ROUTE),
            status=response.status,
            seconds=round(time, 4),
            remote=request.remote,
        )


def server_options(settings: IngressSettings) -> dict[str, Any]:
    """Keyword arguments for `web.run_app` and `TestServer` alike."""
    # Every answer's `Server` header, without Python's and aiohttp's versions: aiohttp has no
    # option for it and reads this global at each answer, its parser's refusals included.
    web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined] # imported there, not exported
    return {
        "access_log_class": AccessLog,
        "access_log": logging.getLogger("ingress.access"),
        # aiohttp starts this clock when a connection opens and again after each response, and
        # closes a connection still waiting for a complete request head when it runs out: the
        # one bound on a client that trickles its headers (there is no separate header timeout).
        "keepalive_timeout": settings.idle_timeout,
    }
