"""How a command ends when a store it needs is down: one line naming it, exit status 1.

Operators run these commands by hand; a traceback from deep inside asyncpg or aiormq tells them
less than "cannot reach Postgres (TEVO_DATABASE_URL)" and the address it tried. Only the
failures of reaching a store are caught here (refused, unresolvable, timed out, wrong
credentials, no such database), and an `OSError` only when it was raised inside the store's
client library (a file the command cannot write is not a store that is down); anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import traceback

import asyncpg
from aiormq.exceptions import AMQPConnectionError

from processor.errors import UNREACHABLE as DATABASE_UNREACHABLE

UNREACHABLE: tuple[type[BaseException], ...] = (
    *DATABASE_UNREACHABLE,  # the processor's one rule (OSError, TimeoutError among them)
    AMQPConnectionError,  # aiormq's refused, closed or not authenticated
    asyncpg.InvalidAuthorizationSpecificationError,  # a wrong user or password
    asyncpg.InvalidCatalogNameError,  # no such database
)
_STORES = (
    ("/asyncpg/", "Postgres (TEVO_DATABASE_URL)"),
    ("/aiormq/", "RabbitMQ (TEVO_AMQP_URL)"),
    ("/aio_pika/", "RabbitMQ (TEVO_AMQP_URL)"),
)
# `scheme://user:password@`: an error may quote a URL, the password must not reach a terminal.
_CREDENTIALS = re.compile(r"(\w+://[^:/@\s]*):[^@\s]*@")


def store_of(exc: BaseException) -> str | None:
    """Which store `exc` came from, told by the library it was raised in; None: neither."""
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return _STORES[0][1]
    if isinstance(exc, AMQPConnectionError):
        return _STORES[1][1]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        for marker, store in _STORES:
            if marker in frame.filename.replace("\\", "/"):
                return store
    return None


def one_line(command: str, exc: BaseException) -> str | None:
    """`processor migrate: cannot reach Postgres (TEVO_DATABASE_URL): ConnectionRefusedError: ...`

    None when `exc` did not come from reaching a store: the caller lets it propagate.
    """
    store = store_of(exc)
    if store is None:
        return None
    detail = _CREDENTIALS.sub(r"\1:***@", " ".join(str(exc).split()))
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"processor {command}: cannot reach {store}: {reason}"
