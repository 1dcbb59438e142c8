"""`python -m processor console`: serve the operator console until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from processor.console.app import running
from processor.settings import ProcessorSettings

NAME = "console"
HELP = "serve the operator console on TEVO_CONSOLE_HOST:TEVO_CONSOLE_PORT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults()  # everything comes from the TEVO_CONSOLE_* settings


async def main(_args: argparse.Namespace, settings: ProcessorSettings) -> int:
    if settings.console_secret_key is None:
        print(
            "processor console: set TEVO_CONSOLE_SECRET_KEY (32 characters or more, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`): it signs sessions",
            file=sys.stderr,
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings):
        await stop.wait()
    return 0
