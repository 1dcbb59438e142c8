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

from contracts.logs import configure_logging, renderers
from contracts.tracing import add_trace_id


def configure_ingress_logging(
    level: str = "info", fmt: str = "auto", *, message_key: str = "event", traced: bool = False
) -> None:
    # The stdlib side, for the libraries' records.
    configure_logging(level, fmt, message_key=message_key, traced=traced)
    structlog.configure(
        # No merge_contextvars: the ingress binds none (each event names its keys), and it
        # copies the whole context for every line.
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([add_trace_id] if traced else []),  # the server span's, in webhook.accepted
            structlog.processors.StackInfoRenderer(),
            *renderers(fmt, message_key),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
