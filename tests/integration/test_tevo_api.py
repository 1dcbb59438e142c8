"""The TEvo API client and verification against the fake TEvo API on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from contracts import Order, parse_order
from processor.errors import Retryable, UpstreamUnauthorized, UpstreamUnavailable
from processor.handler import Deps
from processor.settings import ProcessorSettings
from processor.tevo.api import TevoApi, open_api
from processor.tevo.retry import RetryPolicy
from processor.tevo.verify import check_before_invoicing
from tests.fake_tevo import SECRET, TOKEN, FakeTevo
from tests.payloads import order

pytestmark = pytest.mark.integration


class Clock:
    """Records the client's waits instead of waiting them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTevo]:
    tevo = FakeTevo()
    tevo.add(order(), order("order_client"))
    async with tevo.running():
        yield tevo


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
        yield client


def client(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock, *, secret: str = SECRET
) -> TevoApi:
    return TevoApi(
        session,
        fake.url,
        SecretStr(TOKEN),
        SecretStr(secret),
        policy=RetryPolicy(),
        sleep=clock.sleep,
    )


def parsed(body: dict[str, Any]) -> Order:
    return parse_order(json.dumps(body))


async def test_get_order_returns_tevo_s_order(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    api = client(fake, session, clock)
    assert await api.get_order(10324712) == order()
    assert await api.get_order(999) is None
    assert fake.seen == ["GET /v9/orders/10324712", "GET /v9/orders/999"]


async def test_a_wrong_secret_is_refused_and_never_logged(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    api = client(fake, session, clock, secret="not-the-secret")
    with capture_logs() as logs, pytest.raises(UpstreamUnauthorized) as refused:
        await api.get_order(10324712)
    assert isinstance(refused.value, Retryable)
    assert len(fake.seen) == 1  # refused credentials are not retried by the client itself
    said = f"{refused.value} {logs}"
    for secret in (TOKEN, SECRET, "not-the-secret"):
        assert secret not in said


async def test_all_pages_are_listed(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    fake.add(*(order(id=20000000 + n) for n in range(3)), order(id=30000000, state="accepted"))
    api = client(fake, session, clock)
    pages = [page async for page in api.pages(state="pending", type="Order", per_page=2)]
    assert [len(page.orders) for page in pages] == [2, 2, 1]
    assert {o["id"] for page in pages for o in page.orders} == {
        10324712,
        10324800,
        20000000,
        20000001,
        20000002,
    }
    assert fake.seen[0] == "GET /v9/orders?page=1&per_page=2&state=pending&type=Order"
    assert len(fake.seen) == 3


async def test_an_outage_is_retried_then_succeeds(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    fake.fail_next(503, times=2)
    api = client(fake, session, clock)
    with capture_logs() as logs:
        assert await api.get_order(10324712) == order()
    assert clock.waits == [0.5, 1.0]
    assert [e["event"] for e in logs] == ["tevo_api.retry", "tevo_api.retry"]
    assert all(TOKEN not in str(e) and SECRET not in str(e) for e in logs)


async def test_a_429_waits_as_asked(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    fake.fail_next(429, retry_after="3")
    assert await client(fake, session, clock).get_order(10324712) == order()
    assert clock.waits == [3.0]


async def test_a_lasting_outage_is_retryable(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    fake.down = True
    with pytest.raises(UpstreamUnavailable, match="HTTP 503 after 3 attempt"):
        await client(fake, session, clock).get_order(10324712)
    assert len(fake.seen) == 3


async def test_a_timeout_is_retryable_and_the_session_closes_with_its_stack(
    fake: FakeTevo, processor_settings: ProcessorSettings
) -> None:
    fake.slow = 0.5
    settings = processor_settings.model_copy(
        update={
            "api_url": fake.url,
            "api_token": SecretStr(TOKEN),
            "api_secret": SecretStr(SECRET),
            "api_timeout": 0.1,
            "api_attempts": 2,
        }
    )
    async with AsyncExitStack() as stack:
        api = await open_api(stack, settings)
        assert api is not None
        with pytest.raises(UpstreamUnavailable, match="after 2 attempt"):
            await api.get_order(10324712)
        session: aiohttp.ClientSession = api._session  # private, read only to check the cleanup
    assert session.closed


async def checked(deps: Deps, order: Order) -> str | None:
    """Verification as a transaction sees it: the answer fetched first, outside."""
    assert deps.tevo_api is not None
    deps, failed = await deps.answered([order.id])
    if failed:
        raise failed[order.id]
    return await check_before_invoicing(deps, order)


async def test_verification_accepts_a_true_order_and_flags_a_forged_one(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    deps = Deps(ProcessorSettings(), tevo_api=client(fake, session, clock))
    assert await checked(deps, parsed(order())) is None
    assert await checked(deps, parsed(order("order_client"))) is None

    forged = order("order_client", fraud_check_status="approved", total="1.00")
    reason = await checked(deps, parsed(forged))
    assert reason == "webhook differs from TEvo's order 10324800 in: fraud_check_status, total"
    unknown = await checked(deps, parsed(order(id=55555555)))
    assert unknown == "TEvo has no order 55555555"


async def test_verification_raises_retryable_through_an_outage_then_succeeds(
    fake: FakeTevo, session: aiohttp.ClientSession, clock: Clock
) -> None:
    deps = Deps(ProcessorSettings(), tevo_api=client(fake, session, clock))
    fake.down = True
    with pytest.raises(Retryable):
        await checked(deps, parsed(order()))
    fake.down = False
    assert await checked(deps, parsed(order())) is None
