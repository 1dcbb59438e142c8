"""The ingress's logging: our own events written straight to stderr, the libraries' through stdlib.

The ingress logs one `webhook.accepted` line per webhook, thousands a second at full load.
Through the stdlib (`contracts.logs`), each line paid for a `LogRecord`, the handler's lock and
`ProcessorFormatter`'s copy of the event: about 80 µs a line, more than the webhook's own checks.
Our events now go from structlog's processors to the stream directly, in the same format (JSON
or console, the same keys), and a disabled level costs one method call. The stdlib handler set
up by `contracts.logs` stays for the records libraries write (aiohttp, asyncio, aiormq), with
the token filter of `ingress.redact` on them.
"""

from __future__ import annotations

import logging
import sys

import structlog

from contracts.logs import configure_logging


def configure_ingress_logging(level: str = "info", fmt: str = "auto") -> None:
    configure_logging(level, fmt)  # the stdlib side, for the libraries' records
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        # No merge_contextvars: the ingress binds none (each event names its keys), and it
        # copies the whole context for every line.
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
