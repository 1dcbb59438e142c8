"""The baseline: a bare aiohttp handler that reads a form POST and answers 200, nothing else."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web


async def receive(request: web.Request) -> web.Response:
    form = await request.post()
    return web.json_response({"fields": len(form)})


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/webhooks/tevo/{token}", receive)
    app.router.add_get("/healthz", healthz)
    # The ingress's event loop: the ratio compares the handlers, not two loops.
    web.run_app(
        app,
        loop=uvloop.new_event_loop(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
