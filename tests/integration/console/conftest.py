"""A running console over the test's POS and broker, an operator, and a real browser.

The browser is the distribution's Chromium (`apt-get install chromium`; `.ci/run` installs it),
driven by Playwright; without it these tests skip with one line saying so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from processor.console.app import running
from processor.settings import ProcessorSettings
from tests.processes import ROOT, service_env

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
NO_BROWSER = (
    f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium, or set "
    "TEST_CHROMIUM to one)"
)
OPERATOR, PASSWORD = "alice", "correct-horse-battery-staple"


def browser_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture
def console_settings(processor_settings: ProcessorSettings) -> ProcessorSettings:
    return processor_settings.model_copy(
        update={
            "console_port": 0,
            "console_secret_key": SecretStr("test-console-key-0123456789abcdefghijklmnop"),
            "console_secure_cookies": False,
        }
    )


@pytest.fixture
async def console(console_settings: ProcessorSettings) -> AsyncIterator[str]:
    """The console's base URL, served in this process until the test ends."""
    async with running(console_settings) as port:
        yield f"http://127.0.0.1:{port}"


async def cli(settings: ProcessorSettings, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """`python -m processor ARGS` against the test's stores, as an operator runs it."""
    env = service_env(
        {
            "TEVO_DATABASE_URL": settings.database_url,
            "TEVO_NAMESPACE": settings.namespace,
            "TEVO_AMQP_URL": settings.amqp_url,
        }
    )
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "processor", *args, cwd=ROOT, env=env,
        stdin=pipe, stdout=pipe, stderr=pipe,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def operator(processor_settings: ProcessorSettings) -> str:
    status, out, err = await cli(
        processor_settings, "operators", "add", OPERATOR, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert status == 0, err
    assert f"operator {OPERATOR} added" in out
    return OPERATOR
