"""An operator works the console in a real browser: sign in, search, dossiers, review, dead
letters, audit, sign out; and what a stranger, a forged form and a wrong password get.

Set TEST_CONSOLE_SCREENSHOT to a path to keep the dossier's screenshot (docs/console-dossier.png
is taken this way); it is always written to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, async_playwright, expect

from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, count, eventually, queue_depth
from tests.integration.console import scenario
from tests.integration.console.conftest import (
    CHROMIUM,
    NO_BROWSER,
    OPERATOR,
    PASSWORD,
    browser_available,
)
from tests.payloads import FORM_HEADERS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not browser_available(), reason=NO_BROWSER),
]

Client = TestClient[web.Request, web.Application]
DEAD = "seller.airbill_uploaded"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        yield await context.new_page()
        await browser.close()


@pytest.fixture
async def seeded(
    ingress: Client,
    processor: ProcessorSettings,
    db: asyncpg.Connection,
    amqp: aio_pika.abc.AbstractChannel,
) -> ProcessorSettings:
    """The scenario's webhooks sent through the ingress and applied one by one (so the Client
    sale waits before its approval comes, and the Office sale's amendment follows its creation);
    the broken one dead-lettered."""
    *good, broken = scenario.webhooks()
    for applied, body in enumerate(good, start=1):
        response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=body, headers=FORM_HEADERS)
        assert response.status == 202

        async def recorded(n: int = applied) -> bool | None:
            return await count(db, "SELECT count(*) FROM pos.order_history") == n or None

        await eventually(recorded, within=30)
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=broken, headers=FORM_HEADERS)
    assert response.status == 202
    dead_queue = processor.topology.dead_letter_queue(DEAD)

    async def dead() -> bool | None:
        return await queue_depth(amqp, dead_queue) == 1 or None

    await eventually(dead, within=30)
    return processor


async def sign_in(page: Page, base: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=name]", OPERATOR)
    await page.fill("input[name=password]", password)
    await page.click("form.login button[type=submit]")


@pytest.mark.usefixtures("operator", "seeded")
async def test_an_operator_works_an_order_through(
    page: Page, console: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await page.goto(f"{console}/review")
    await expect(page).to_have_url(f"{console}/login")  # no session: the sign-in page
    await sign_in(page, console)
    await expect(page).to_have_url(f"{console}/")

    await page.fill("input[name=q]", scenario.CLIENT_EMAIL.lower())
    await page.click("form.search button")
    await page.click(f"a[href='/orders/{scenario.CLIENT}']")
    await expect(page.locator("h1")).to_contain_text(f"Order {scenario.CLIENT}")
    await _client_sale_waited_then_revealed(page)

    await page.goto(f"{console}/?q={scenario.OFFICE}")
    await page.click(f"a[href='/orders/{scenario.OFFICE}']")
    await _office_sale_amended_with_a_dead_letter(page)
    await page.screenshot(path=tmp_path / "console-dossier.png", full_page=True)
    if target := os.environ.get("TEST_CONSOLE_SCREENSHOT"):
        shutil.copy(tmp_path / "console-dossier.png", target)

    await page.click("nav a[href='/review']")
    row = page.locator("tr", has_text=str(scenario.HELD))
    await row.locator("input[name=note]").fill("resold by the brokerage itself")
    await row.locator("button[value=dismiss]").click()
    await expect(page.locator("[role=status]")).to_contain_text(f"Done by {OPERATOR}")
    await expect(page.locator("table.review")).to_have_count(0)
    assert (
        await db.fetchval(
            "SELECT review_decided_by FROM pos.sales WHERE tevo_order_id = $1", scenario.HELD
        )
        == OPERATOR
    )

    message_id = await _dry_run_then_replay(page, console)

    await page.click("nav a[href='/audit']")
    audit = page.locator("table.audit")
    for action in ("dossier.reveal", "review.dismiss", "dead_letters.replay", "operators.add"):
        await expect(audit).to_contain_text(action)
    await expect(audit.locator("tr", has_text="dead_letters.replay")).to_contain_text(
        message_id[:12]
    )

    await page.click("text=Sign out")
    await expect(page).to_have_url(f"{console}/login")
    await page.goto(f"{console}/audit")
    await expect(page).to_have_url(f"{console}/login")


async def _client_sale_waited_then_revealed(page: Page) -> None:
    html = await page.content()
    assert scenario.CLIENT_EMAIL not in html
    assert scenario.CLIENT_EMAIL.lower() not in html
    assert "Jordan" not in html  # nor the buyer's name, anywhere: diffs and customer alike
    await expect(page.locator(".decision")).to_contain_text("fraud check approved")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("new -> awaiting_fraud_check")
    await expect(timeline).to_contain_text("awaiting_fraud_check -> invoiced")
    await page.click("text=Reveal buyer details")
    await expect(page.locator(".customer")).to_contain_text(scenario.CLIENT_EMAIL)


async def _office_sale_amended_with_a_dead_letter(page: Page) -> None:
    await expect(page.locator(".decision")).to_contain_text("Office is invoiced")
    total = page.locator("table.changes tr", has_text="total").first
    await expect(total).to_contain_text("561.6")
    await expect(total).to_contain_text("636.60")
    held = page.locator("tr.held")
    await expect(held).to_contain_text("dead letter")
    await expect(held).to_contain_text("ContractViolation")
    await expect(page.locator("#invoice")).to_contain_text("amended")


async def _dry_run_then_replay(page: Page, console: str) -> str:
    await page.goto(f"{console}/dead-letters?order={scenario.OFFICE}")
    letter = page.locator("input[name=ids]")
    message_id = await letter.get_attribute("value")
    assert message_id
    await letter.check()
    await page.click("button[value=dry-run]")
    await expect(page.locator("[role=status]")).to_contain_text("Dry run: 1 dead letter(s) match")
    await page.locator("input[name=ids]").check()
    await page.click("button[value=replay]")
    await expect(page.locator("[role=status]")).to_contain_text("dead_letters.replay")
    return message_id
