"""How a command ends when a store it needs is down: one line naming it, exit status 1.

Operators run these commands by hand; a traceback from deep inside asyncpg or aiormq tells them
less than "cannot reach Postgres (TEVO_DATABASE_URL) at db:5432/tevo" (the address it tried,
never the password). Every command ends this way, through `python -m processor`'s `main`, so the
wording and the exit status are the same everywhere; a command never catches these itself. Only the
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

from contracts.brokers import node_of
from contracts.settings import postgres_address
from processor.errors import UNREACHABLE as DATABASE_UNREACHABLE
from processor.settings import ProcessorSettings

UNREACHABLE: tuple[type[BaseException], ...] = (
    *DATABASE_UNREACHABLE,  # the processor's one rule (OSError, TimeoutError among them)
    AMQPConnectionError,  # aiormq's refused, closed or not authenticated
    asyncpg.InvalidAuthorizationSpecificationError,  # a wrong user or password
    asyncpg.InvalidCatalogNameError,  # no such database
)
POSTGRES, RABBITMQ = "Postgres (TEVO_DATABASE_URL)", "RabbitMQ (TEVO_AMQP_URL)"
_STORES = (("/asyncpg/", POSTGRES), ("/aiormq/", RABBITMQ), ("/aio_pika/", RABBITMQ))
# `scheme://user:password@`: an error may quote a URL, the password must not reach a terminal.
_CREDENTIALS = re.compile(r"(\w+://[^:/@\s]*):[^@\s]*@")


def store_of(exc: BaseException) -> str | None:
    """Which store `exc` came from, told by the library it was raised in; None: neither."""
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return POSTGRES
    if isinstance(exc, AMQPConnectionError):
        return RABBITMQ
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        for marker, store in _STORES:
            if marker in frame.filename.replace("\\", "/"):
                return store
    return None


def address(store: str, settings: ProcessorSettings) -> str:
    """Where `store` was looked for, as the settings say: hosts and ports, never credentials."""
    if store == POSTGRES:
        return postgres_address(settings.database_url)
    return ", ".join(node_of(url) for url in settings.brokers.urls)


def one_line(command: str, exc: BaseException, settings: ProcessorSettings) -> str | None:
    """`processor review: cannot reach Postgres (TEVO_DATABASE_URL) at db:5432/tevo: ...`

    None when `exc` did not come from reaching a store: the caller lets it propagate.
    """
    store = store_of(exc)
    if store is None:
        return None
    where = address(store, settings)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):  # reached, but there is no such database
        return (
            f"processor {command}: {store} at {where} has no such database: create it, then "
            "run `python -m processor migrate`"
        )
    detail = _CREDENTIALS.sub(r"\1:***@", " ".join(str(exc).split()))
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"processor {command}: cannot reach {store} at {where}: {reason}"
