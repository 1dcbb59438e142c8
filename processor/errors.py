"""What can go wrong with a message: the error tree the dispatcher decides by.

    ProcessingError
    ├── Retryable            transient: it may work later
    │   ├── DatabaseUnavailable   connection lost, refused, Postgres shutting down, timeout
    │   ├── SchemaNotMigrated     a table or column the code needs is missing: `migrate` has not
    │   │                         run (a deployment step not done, never the message's fault)
    │   ├── Conflict              serialization failure, deadlock, lock timeout, unique race
    │   ├── UpstreamUnavailable   TEvo's API down, timing out, or 5xx/429 after the client's retries
    │   └── UpstreamUnauthorized  TEvo's API refused our credentials (401/403)
    ├── Permanent            never going to work
    │   ├── ContractViolation     the body or headers break the contract in `contracts/`
    │   └── UpstreamRejected      TEvo's API called our request malformed (another 4xx)
    └── NeedsVerification    no failure: the handler needs TEvo's answer for an order

What happens to each is answered in one place: the table in `processor.runtime.dispatch`.
Handlers raise these; `translate` turns asyncpg's exceptions into them at the boundary, and
`processor.tevo.api` turns aiohttp's, so the dispatcher decides the outcome from this tree alone.

Refused credentials are retryable, not permanent: they are one setting for every message, and
a rotated secret must not dead-letter every sale at once.

`UNREACHABLE` is the one rule for "the database cannot be talked to": every place the processor
talks to Postgres (the transaction, the pause's probe, readiness, the review watch) uses it, so
no error of a connection the server cut (asyncpg's "cannot switch to state" among them) is taken
by one of them for something else.
"""

from __future__ import annotations

import asyncpg


class ProcessingError(Exception):
    """Base of every error the dispatcher knows how to act on."""


class Retryable(ProcessingError):
    """A transient failure: the message goes to a delay queue and comes back."""


class DatabaseUnavailable(Retryable):
    pass


class SchemaNotMigrated(Retryable):
    """The schema lacks what the code needs: the dispatcher pauses until `migrate` has run."""


class Conflict(Retryable):
    pass


class UpstreamUnavailable(Retryable):
    pass


class UpstreamUnauthorized(Retryable):
    pass


class Permanent(ProcessingError):
    """Retrying cannot help: the message is dead-lettered at once."""


class ContractViolation(Permanent):
    pass


class UpstreamRejected(Permanent):
    pass


_CONFLICTS = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    asyncpg.UniqueViolationError,  # a race with a concurrent insert; the retry finds the row
)
# Every error of a database that cannot be reached, or of a connection the server cut.
UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, ConnectionDoesNotExistError among them
    asyncpg.InterfaceError,  # the client's view of a closed or broken connection
    # asyncpg's own state error on a pooled connection that the server cut mid-operation
    # ("cannot switch to state ...; another operation is in progress"), ProtocolError too
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # pg_terminate_backend, a fast shutdown
    asyncpg.CrashShutdownError,
    OSError,  # ConnectionError, TimeoutError and the socket's own errors
)
# A look at the database (a probe, readiness, the review watch, the schema's version) that got
# no usable answer: the database is unreachable, or answered with an error in its place.
NO_ANSWER: tuple[type[BaseException], ...] = (*UNREACHABLE, asyncpg.PostgresError)
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    *UNREACHABLE,
    asyncpg.QueryCanceledError,  # a statement timeout: the pause's probe tells if it is down
    asyncpg.InsufficientResourcesError,
)
# Undefined table, column, function or schema: what the code expects is not there yet.
_NOT_MIGRATED = (
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedColumnError,
    asyncpg.UndefinedFunctionError,
    asyncpg.UndefinedObjectError,
    asyncpg.InvalidSchemaNameError,
)
_PERMANENT = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class NeedsVerification(ProcessingError):
    """A handler needs TEvo's answer for `order_id` before it may invoice."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"TEvo's answer for order {order_id} is needed")
        self.order_id = order_id


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be talked to now (see `UNREACHABLE`)."""
    return isinstance(exc, UNREACHABLE)


def translate(exc: BaseException) -> ProcessingError | None:
    """Our error for a foreign one, or None when it is not a known database failure.

    Messages name the SQLSTATE and constraint only: Postgres' own text can quote row values,
    which may be a buyer's e-mail or name.
    """
    if isinstance(exc, ProcessingError):
        return exc
    if isinstance(exc, _CONFLICTS):
        return Conflict(f"{type(exc).__name__} (sqlstate {exc.sqlstate})")
    if isinstance(exc, _UNAVAILABLE):
        return DatabaseUnavailable(type(exc).__name__)
    if isinstance(exc, _NOT_MIGRATED):
        return SchemaNotMigrated(f"{type(exc).__name__} (sqlstate {exc.sqlstate}): run migrate")
    if isinstance(exc, _PERMANENT):
        constraint = getattr(exc, "constraint_name", None)
        return Permanent(f"{type(exc).__name__} (sqlstate {exc.sqlstate}, constraint {constraint})")
    return None


class CannotStart(Exception):
    """The process cannot start (its HTTP port is taken): the message is the whole line to print,
    naming the setting. Not a `ProcessingError`: no message is involved."""
