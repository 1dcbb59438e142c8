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
    translate,
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
