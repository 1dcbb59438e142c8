"""Which failures are worth retrying: foreign exceptions translated at the boundary."""

from __future__ import annotations

import asyncpg
import pytest

from processor.errors import (
    Conflict,
    ContractViolation,
    DatabaseUnavailable,
    Permanent,
    Retryable,
    SchemaNotMigrated,
    translate,
    unreachable,
)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.LockNotAvailableError("could not obtain lock"),
        asyncpg.UniqueViolationError("duplicate key"),
    ],
)
def test_conflicts_are_retried(exc: Exception) -> None:
    assert isinstance(translate(exc), Conflict)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        OSError("network unreachable"),
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
    ],
)
def test_an_unreachable_or_slow_database_is_retried(exc: Exception) -> None:
    assert isinstance(translate(exc), DatabaseUnavailable)


def test_bad_data_is_permanent_and_its_message_quotes_no_row() -> None:
    exc = asyncpg.DataError('invalid input syntax for type bigint: "buyer@example.com"')
    error = translate(exc)
    assert isinstance(error, Permanent)
    assert not isinstance(error, Retryable)
    assert "buyer@example.com" not in str(error)


def test_our_own_errors_pass_through() -> None:
    error = ContractViolation("body is not an order: id: Field required")
    assert translate(error) is error


def test_anything_else_is_left_to_the_dispatcher() -> None:
    assert translate(KeyError("total")) is None


# Every error asyncpg raises for a connection the server cut (pg_terminate_backend, a restart),
# as seen on pooled connections under load.
CUT = [
    asyncpg.InternalClientError("cannot switch to state 11; another operation is in progress"),
    asyncpg.exceptions.ProtocolError("unexpected message"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.PostgresConnectionError("connection failure"),
    asyncpg.exceptions.ConnectionFailureError("could not receive data"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError(113, "No route to host"),
    TimeoutError(),
]


@pytest.mark.parametrize("exc", CUT, ids=lambda exc: type(exc).__name__)
def test_every_error_of_a_cut_connection_is_the_one_rule_unreachable(exc: Exception) -> None:
    assert unreachable(exc)
    assert isinstance(translate(exc), DatabaseUnavailable)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.DataError("invalid input"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.UndefinedTableError('relation "pos.sales" does not exist'),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_database_that_answered_is_not_unreachable(exc: Exception) -> None:
    assert not unreachable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UndefinedTableError('relation "pos.sales" does not exist'),
        asyncpg.UndefinedColumnError('column "email_key" does not exist'),
        asyncpg.InvalidSchemaNameError('schema "pos" does not exist'),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_missing_table_or_column_is_the_schema_not_the_message(exc: Exception) -> None:
    error = translate(exc)
    assert isinstance(error, SchemaNotMigrated)
    assert not isinstance(error, Permanent)
    assert "migrate" in str(error)
