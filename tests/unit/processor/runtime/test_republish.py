"""The publishing connection's copies: wait out a blocked broker, give up on a silent one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from processor.runtime import republish
from processor.runtime.republish import Publisher


class FakeBroker:
    """A connection that the broker may block, and an exchange whose confirms we release."""

    def __init__(self) -> None:
        self.unblocked = asyncio.Event()
        self.unblocked.set()
        self.is_closed = False
        self.published: list[str] = []
        self.confirm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport = SimpleNamespace(connection=SimpleNamespace(ready=self.unblocked.wait))
        self.default_exchange = SimpleNamespace(publish=self.publish)

    async def publish(self, _message: Any, routing_key: str, **_: Any) -> None:
        self.published.append(routing_key)
        await self.confirm


def publisher(broker: FakeBroker) -> Publisher:
    return Publisher(cast(AbstractConnection, broker), cast(AbstractChannel, broker))


MESSAGE = cast(
    AbstractIncomingMessage,
    SimpleNamespace(body=b"{}", message_id="m-1", content_type=None, timestamp=None, app_id=None),
)


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(republish, "PUBLISH_TIMEOUT", 0.05)


async def test_a_copy_waits_while_the_broker_blocks_and_is_published_once() -> None:
    broker = FakeBroker()
    broker.unblocked.clear()  # an alarm: the broker blocks the connection
    copy = asyncio.create_task(publisher(broker).copy(MESSAGE, "ns.delay.1s", {}))
    await asyncio.sleep(0.3)  # six publish timeouts' worth
    assert broker.published == []  # nothing written while blocked
    assert not copy.done()
    broker.confirm.set_result(None)  # the broker will confirm as soon as it reads the copy
    broker.unblocked.set()
    await asyncio.wait_for(copy, 1)
    assert broker.published == ["ns.delay.1s"]


async def test_blocked_after_the_copy_was_written_it_waits_for_that_confirm() -> None:
    broker = FakeBroker()
    copy = asyncio.create_task(publisher(broker).copy(MESSAGE, "ns.delay.1s", {}))
    await asyncio.sleep(0.01)
    broker.unblocked.clear()  # the alarm came just after the copy went out
    await asyncio.sleep(0.3)
    assert not copy.done()  # no timeout, no second copy: the first is in the broker's buffer
    broker.unblocked.set()
    broker.confirm.set_result(None)
    await asyncio.wait_for(copy, 1)
    assert broker.published == ["ns.delay.1s"]


async def test_an_unblocked_broker_that_does_not_confirm_times_out() -> None:
    broker = FakeBroker()
    with pytest.raises(TimeoutError):
        await publisher(broker).copy(MESSAGE, "ns.delay.1s", {})


async def test_a_closed_connection_fails_the_copy_for_the_original_to_be_requeued() -> None:
    broker = FakeBroker()
    broker.unblocked.clear()
    broker.is_closed = True
    with pytest.raises(ConnectionError):
        await publisher(broker).copy(MESSAGE, "ns.delay.1s", {})
