"""structlog set-up shared by both services: JSON in production, console on a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from contracts.tracing import add_trace_id


def renderers(fmt: str, message_key: str) -> list[structlog.typing.Processor]:
    """The last processors of every line: the event's key renamed if asked, then the renderer.

    JSON renders a traceback as text (`exception`); the console renders its own, prettier.
    """
    if fmt == "console" or (fmt == "auto" and sys.stderr.isatty()):
        return [structlog.dev.ConsoleRenderer()]
    renamed = [structlog.processors.EventRenamer(message_key)] if message_key != "event" else []
    return [*renamed, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]


def configure_logging(
    level: str = "info", fmt: str = "auto", *, message_key: str = "event", traced: bool = False
) -> None:
    """Route structlog and the standard library through one renderer at `level`.

    `traced`: tracing is on, so each line carries the trace id of the span it was written in.
    """
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *([add_trace_id] if traced else []),
    ]
    structlog.configure(
        processors=[
            # First: an event below the level is dropped before the others build it (a line
            # per message, e.g. sale.applied, cost a round trip's worth of CPU at every level).
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # A library's record (asyncpg's, aiohttp's) names its logger, and its traceback is
            # rendered as text rather than as the repr of a traceback object.
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *renderers(fmt, message_key),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter at info would bury ours; their warnings still come through.
    for noisy in ("aiormq", "aio_pika", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
