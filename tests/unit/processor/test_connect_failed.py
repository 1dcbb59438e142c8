"""A processor waiting for a store says where it tries, never with the password."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from processor.app import StoppedBeforeStart, broker_address, database_address, until_connected
from processor.settings import ProcessorSettings


async def test_connect_failed_names_the_address_it_tried() -> None:
    settings = ProcessorSettings(
        database_url="postgresql://tevo:s3cret@db.internal:6432/pos",
        amqp_url="amqp://u:s3cret@rabbit-0:5672/,amqp://u:s3cret@rabbit-1:5672/",
    )
    stop = asyncio.Event()

    async def refused() -> None:
        stop.set()  # one try is enough to read its line
        raise ConnectionRefusedError(111, "refused")

    with capture_logs() as logs, pytest.raises(StoppedBeforeStart):
        await until_connected("database", refused, stop, address=database_address(settings))
    (failed,) = [e for e in logs if e["event"] == "connect.failed"]
    assert failed["address"] == "TEVO_DATABASE_URL at db.internal:6432/pos"
    assert broker_address(settings) == "TEVO_AMQP_URL at rabbit-0:5672, rabbit-1:5672"
    assert "s3cret" not in repr(logs)
