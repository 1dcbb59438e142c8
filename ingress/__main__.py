"""`python -m ingress`: serve the webhook endpoint until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import os
import sys

import structlog
from pydantic import ValidationError

from contracts import variables
from contracts.release import version
from contracts.settings_errors import describe, unknown_variables
from contracts.tracing import configure_tracing
from contracts.tracing import enabled as tracing_enabled
from ingress.logs import configure_ingress_logging
from ingress.settings import IngressSettings
from ingress.tokens import MIN_BITS, MIN_LENGTH, weak_tokens
from ingress.workers import run_workers

TOKEN_HINT = (
    f"every token needs {MIN_LENGTH}+ characters of A-Z a-z 0-9 - _ . ~ and about {MIN_BITS} "
    "bits: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingress",
        description="Serve POST /webhooks/tevo/{token} (and /healthz, /readyz, /metrics) until "
        "SIGTERM or SIGINT, publishing every accepted webhook to RabbitMQ.",
        epilog="It takes no options: every setting comes from a TEVO_* environment variable "
        "(docs/settings.md); TEVO_WEBHOOK_TOKENS is required.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parser


def main(argv: list[str] | None = None) -> int:
    _parser().parse_args(argv)  # --help and --version answer and exit before anything starts
    try:
        settings = IngressSettings()
    except ValidationError as exc:
        # Without the input values: a bad setting must not print the tokens next to it.
        problems = "".join(f"\n  {line}" for line in describe(exc))
        print(f"ingress: invalid settings:{problems}", file=sys.stderr)
        return 2
    configure_ingress_logging(
        settings.log_level,
        settings.log_format,
        message_key=settings.log_message_key,
        traced=tracing_enabled(),
    )
    if not tokens_acceptable(settings):
        return 2
    log = structlog.get_logger("ingress")
    warn_unknown_variables()
    log.info(
        "ingress.starting",
        host=settings.ingress_host,
        port=settings.ingress_port,
        namespace=settings.namespace,
        tokens=len(settings.webhook_tokens),
        allowed_networks=[str(n) for n in settings.allowed_networks] or "any",
        trusted_proxies=[str(n) for n in settings.trusted_proxies],
        workers=settings.ingress_workers,
    )
    if settings.ingress_workers > 1:
        return run_workers(settings)
    from ingress.listen import serve  # noqa: PLC0415 - a parent of workers never serves: it stays small without aiohttp and the app

    # Here, not before the workers: a parent of workers makes no span (each worker traces).
    shutdown_tracing = configure_tracing("tevo-ingress")
    try:
        return serve(settings)
    finally:
        if shutdown_tracing is not None:
            shutdown_tracing()  # the last spans leave before the process does


def warn_unknown_variables() -> None:
    """Once per start: a `TEVO_*` variable no program reads is a typo or a stale setting."""
    log = structlog.get_logger("ingress")
    for name, meant in unknown_variables(os.environ, variables.ALL).items():
        log.warning("settings.unknown_variable", variable=name, did_you_mean=meant)


def tokens_acceptable(settings: IngressSettings) -> bool:
    """Refuse to guard the POS with no token or a guessable one; say which, never quote it."""
    log = structlog.get_logger("ingress")
    if not settings.webhook_tokens:
        log.error("ingress.no_tokens", hint=f"set TEVO_WEBHOOK_TOKENS; {TOKEN_HINT}")
        return False
    weak = weak_tokens(settings.webhook_tokens)
    if weak and settings.allow_weak_tokens:
        # Loud on purpose: this line should never appear on a server TEvo can reach.
        log.warning(
            "ingress.weak_tokens_allowed",
            weak_tokens=[position for position, _ in weak],
            hint="TEVO_ALLOW_WEAK_TOKENS=true is for local development only; "
            "anyone who guesses a weak token can invoice tickets nobody bought",
        )
        return True
    for position, problem in weak:
        log.error(
            "ingress.weak_token",
            token_position=position,
            problem=problem,
            hint=f"{TOKEN_HINT} (or TEVO_ALLOW_WEAK_TOKENS=true on a development machine)",
        )
    return not weak


if __name__ == "__main__":
    sys.exit(main())
