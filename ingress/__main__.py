"""`python -m ingress`: serve the webhook endpoint until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

import structlog
from aiohttp import web
from pydantic import ValidationError

from contracts.logs import configure_logging
from ingress.app import create_app
from ingress.settings import IngressSettings


def main() -> int:
    try:
        settings = IngressSettings()
    except ValidationError as exc:
        print(f"ingress: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    log = structlog.get_logger("ingress")
    if not settings.webhook_tokens:
        log.error("ingress.no_tokens", hint="set TEVO_WEBHOOK_TOKENS to one or more secrets")
        return 2
    log.info(
        "ingress.starting",
        host=settings.ingress_host,
        port=settings.ingress_port,
        namespace=settings.namespace,
    )
    # access_log=None: the access log would print the token in the path.
    web.run_app(
        create_app(settings),
        host=settings.ingress_host,
        port=settings.ingress_port,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
