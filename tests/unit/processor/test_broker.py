"""The processor's robust connection moves to the next node of the list when it is lost."""

from __future__ import annotations

import asyncio
from typing import Any

from yarl import URL

from contracts.brokers import Brokers
from processor.broker import FailoverConnection

A = "amqp://tevo:s3cret@rabbit-a:5672/pos"
B = "amqp://tevo:s3cret@rabbit-b:5673/pos"
C = "amqps://tevo:s3cret@rabbit-c/pos"


async def test_a_lost_robust_connection_reconnects_to_the_next_node() -> None:
    connection = FailoverConnection(URL(A), Brokers((A, B, C)))
    closing: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    closing.set_result(None)
    await connection._on_connection_close(closing)
    assert str(connection.url) == B
    await connection._on_connection_close(closing)
    assert str(connection.url) == C
    await connection.close()
