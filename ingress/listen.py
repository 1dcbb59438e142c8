"""Run the app on its port in this process until SIGTERM or SIGINT, and say so.

A line when the port is open (`ingress.listening`) and one when the server has stopped
(`ingress.stopped`); a port that cannot be had is one line naming the settings, exit status 1,
not aiohttp's traceback.
"""

from __future__ import annotations

import errno
import sys

import structlog
import uvloop
from aiohttp import web

from ingress.app import create_app
from ingress.serve import server_options
from ingress.settings import IngressSettings

log = structlog.get_logger("ingress")

# The port is taken, the address is not this host's, or the port needs privileges.
LISTEN_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def serve(settings: IngressSettings) -> int:
    """Serve the app in this process until SIGTERM or SIGINT; the exit status."""
    address = f"{settings.ingress_host}:{settings.ingress_port}"
    try:
        web.run_app(
            create_app(settings),
            # uvloop: the event loop's own share of each webhook (transport writes, callbacks,
            # timeouts) is about a third of what asyncio's costs.
            loop=uvloop.new_event_loop(),
            host=settings.ingress_host,
            port=settings.ingress_port,
            reuse_port=settings.ingress_reuse_port or None,
            # Called once the port is open: our line instead of aiohttp's banner.
            print=lambda _banner: log.info("ingress.listening", address=address),
            shutdown_timeout=10,
            **server_options(settings),
        )
    except OSError as exc:
        if exc.errno not in LISTEN_ERRORS:
            raise
        print(
            f"ingress: cannot listen on {address} (TEVO_INGRESS_HOST, TEVO_INGRESS_PORT): "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    log.info("ingress.stopped", address=address)
    return 0
