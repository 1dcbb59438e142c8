"""Keep webhook tokens out of the log records that libraries write, whatever they quote.

aiohttp logs a malformed request with its request line, path and token included, and asyncio
logs exceptions with their messages. Our own events never carry a token (tests check it); this
filter covers the loggers we do not write.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

MASK = "***"
WEBHOOK_PATH = re.compile(r"(/webhooks/tevo/)[^\s/?#'\"\\]+")
# Every logger that may quote a request or its path.
LIBRARY_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal", "asyncio")


class RedactTokens(logging.Filter):
    """Masks the path segment after `/webhooks/tevo/` and every configured token, anywhere."""

    def __init__(self, tokens: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a token that contains another is masked whole.
        self._tokens = tuple(sorted((t for t in tokens if t), key=len, reverse=True))

    def redact(self, text: str) -> str:
        text = WEBHOOK_PATH.sub(rf"\g<1>{MASK}", text)
        for token in self._tokens:
            text = text.replace(token, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True  # structlog's own records: event dicts we write, tested separately
        message = record.getMessage()
        trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        clean_message, clean_trace = self.redact(message), self.redact(trace)
        if clean_message != message or clean_trace != trace:
            # The traceback is folded into the message: left as exc_info it would be rendered
            # again, token and all, by whichever formatter handles the record.
            record.msg = f"{clean_message}\n{clean_trace}" if clean_trace else clean_message
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def redacting(tokens: Iterable[str]) -> Iterator[RedactTokens]:
    """Install the filter on every library logger that may quote a request, for a while."""
    redactor = RedactTokens(tokens)
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    for logger in loggers:
        logger.addFilter(redactor)
    try:
        yield redactor
    finally:
        for logger in loggers:
            logger.removeFilter(redactor)
