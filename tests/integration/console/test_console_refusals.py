"""What the console refuses: a stranger, a wrong password, a forged form; and two operators
deciding one sale at once (exactly one wins, the other is told)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import asyncpg
import pytest

from processor.settings import ProcessorSettings
from tests.integration.console.conftest import OPERATOR, PASSWORD, cli
from tests.payloads import order

pytestmark = pytest.mark.integration

HELD = 10324950
HELD_SQL = """
INSERT INTO pos.sales (tevo_order_id, order_group_id, buyer_type, status, review_reason, raw)
VALUES ($1, 4606950, 'Brokerage', 'needs_review', 'no sales rule for buyer type ''Brokerage''', $2)
"""


async def _signed_in(base: str, password: str = PASSWORD) -> tuple[aiohttp.ClientSession, int]:
    """A client session after one sign-in attempt, and the status of that attempt."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1 (an address, not a name)
    client = aiohttp.ClientSession(base, cookie_jar=jar)
    form = await (await client.get("/login")).text()
    token = re.search(r'name="login_token" value="([^"]+)"', form)
    assert token is not None
    response = await client.post(
        "/login",
        data={"login_token": token[1], "name": OPERATOR, "password": password},
        allow_redirects=False,
    )
    return client, response.status


async def _csrf(client: aiohttp.ClientSession) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', await (await client.get("/review")).text())
    assert found is not None
    return found[1]


@pytest.mark.usefixtures("operator")
async def test_strangers_forged_forms_and_wrong_passwords_change_nothing(
    console: str, db: asyncpg.Connection
) -> None:
    await db.execute(HELD_SQL, HELD, json.dumps(order("order_brokerage")))
    async with aiohttp.ClientSession(console) as stranger:
        for path in ("/", "/orders/10324712", "/review", "/dead-letters", "/audit"):
            response = await stranger.get(path, allow_redirects=False)
            assert (response.status, response.headers["Location"]) == (303, "/login"), path
        response = await stranger.post(
            f"/review/{HELD}/resolve", data={"action": "dismiss"}, allow_redirects=False
        )
        assert response.status == 303

    client, status = await _signed_in(console, "not-the-password")
    async with client:
        assert status == 401
        assert (await client.get("/review", allow_redirects=False)).status == 303

    client, status = await _signed_in(console)
    async with client:
        assert status == 303
        cookie = next(c for c in client.cookie_jar if c.key == "tevo_console")
        assert await db.fetchval("SELECT count(*) FROM pos.operator_sessions") == 1
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        forged = {"action": "dismiss", "note": "forged"}
        for data in (forged, {**forged, "csrf": "not-the-token"}):
            response = await client.post(f"/review/{HELD}/resolve", data=data)
            assert response.status == 403
            assert "Nothing was changed" in await response.text()
        missing = await client.get("/orders/not-a-number")
        assert missing.status == 404
        assert "is not an order id" in await missing.text()
        page = await client.get("/review")
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert "aiohttp" not in page.headers["Server"]
        assert "Python" not in page.headers["Server"]
    assert (
        await db.fetchval("SELECT review_decision FROM pos.sales WHERE tevo_order_id = $1", HELD)
        is None
    )
    assert await db.fetchval("SELECT count(*) FROM pos.audit WHERE via = 'console'") == 0


@pytest.mark.usefixtures("operator")
async def test_a_sign_in_rotates_the_session_and_a_sign_out_ends_it(
    console: str, db: asyncpg.Connection
) -> None:
    client, _ = await _signed_in(console)
    async with client:
        first = next(c.value for c in client.cookie_jar if c.key == "tevo_console")
        form = await (await client.get("/login")).text()
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token is not None
        again = {"login_token": token[1], "name": OPERATOR, "password": PASSWORD}
        assert (await client.post("/login", data=again, allow_redirects=False)).status == 303
        second = next(c.value for c in client.cookie_jar if c.key == "tevo_console")
        assert second != first
        assert await db.fetchval("SELECT count(*) FROM pos.operator_sessions") == 1
        copy = aiohttp.ClientSession(console, cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with copy:  # the same cookie in another client: good until the sign-out
            copy.cookie_jar.update_cookies({"tevo_console": second})
            assert (await copy.get("/review", allow_redirects=False)).status == 200
            csrf = await _csrf(client)
            signed_out = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
            assert signed_out.status == 303
            assert (await copy.get("/review", allow_redirects=False)).status == 303
    assert await db.fetchval("SELECT count(*) FROM pos.operator_sessions") == 0


@pytest.mark.usefixtures("operator")
async def test_repeated_failures_slow_sign_in_down(console: str) -> None:
    statuses = []
    for _ in range(5):
        client, status = await _signed_in(console, "wrong-password-again")
        await client.close()
        statuses.append(status)
    assert statuses[:3] == [401, 401, 401]
    assert 429 in statuses[3:]  # then it must wait, even with the right password
    client, status = await _signed_in(console)
    await client.close()
    assert status == 429


@pytest.mark.usefixtures("operator")
async def test_two_operators_resolve_one_sale_at_once(
    console: str, db: asyncpg.Connection, processor_settings: ProcessorSettings
) -> None:
    await db.execute(HELD_SQL, HELD, json.dumps(order("order_brokerage")))
    status, _, err = await cli(
        processor_settings,
        "operators",
        "add",
        "bob",
        "--password-stdin",
        stdin="bobs-password-1234\n",
    )
    assert status == 0, err
    alice, _ = await _signed_in(console)
    async with alice:
        bob = aiohttp.ClientSession(console, cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with bob:
            form = await (await bob.get("/login")).text()
            token = re.search(r'name="login_token" value="([^"]+)"', form)
            assert token is not None
            await bob.post(
                "/login",
                data={"login_token": token[1], "name": "bob", "password": "bobs-password-1234"},
            )
            tokens = [await _csrf(alice), await _csrf(bob)]
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/review/{HELD}/resolve",
                        data={"action": "dismiss", "note": who, "csrf": csrf},
                    )
                    for client, who, csrf in zip(
                        (alice, bob), ("alice", "bob"), tokens, strict=True
                    )
                )
            )
            statuses = sorted(a.status for a in answers)
            texts = [await a.text() for a in answers]
    assert statuses == [200, 409]
    assert any("was already resolved (dismiss) by" in t for t in texts)
    assert await db.fetchval("SELECT count(*) FROM pos.audit WHERE action = 'review.dismiss'") == 1
