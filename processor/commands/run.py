"""`python -m processor run` (the default): consume every registered consumer until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

import structlog

from contracts.release import version
from processor.app import ConfigurationError, StoppedBeforeStart, run
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime import http
from processor.runtime.dispatch import Outcome
from processor.runtime.health import Health
from processor.settings import ProcessorSettings

log = structlog.get_logger(__name__)

NAME = "run"
HELP = "consume every registered consumer's queue (the default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own: everything comes from TEVO_* settings


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    del args
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "processor.starting",
        version=version(),
        namespace=settings.namespace,
        consumers=len(CONSUMERS),
        http=f"{settings.processor_http_host}:{settings.processor_http_port}",
    )
    metrics, health = ProcessorMetrics(), Health()
    metrics.initialise([c.name for c in CONSUMERS], [o.value for o in Outcome])
    # The HTTP port opens first: liveness holds while the runtime waits for broker and database.
    async with http.serve(
        settings.processor_http_host, settings.processor_http_port, metrics, health
    ):
        try:
            await run(settings, CONSUMERS, stop, metrics=metrics, health=health)
        except StoppedBeforeStart as waiting_for:
            log.info("processor.stopped", before_connecting_to=str(waiting_for))
        except ConfigurationError as exc:  # no retry fixes it: say so and let the operator act
            log.error("processor.configuration_error", error=str(exc))  # noqa: TRY400 - the reason says it all
            return 2
    return 0
