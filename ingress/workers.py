"""Run the ingress: one process, or `TEVO_INGRESS_WORKERS` processes sharing the port.

One Python process uses one core. With several workers each is a whole ingress (its own broker
connection, its own in-flight limit) listening on the same port with SO_REUSEPORT, and the
kernel spreads connections among them. The parent only starts, watches and stops them: SIGTERM
or SIGINT is passed on and each worker shuts down gracefully; a worker that dies on its own
takes the others down with it (exit 1), so that the orchestrator restarts a whole ingress,
never a partial one.

Metrics: `/metrics` on the shared port reaches one worker at random, so with several workers
the counters live in prometheus-client's multiprocess mode (one file per worker in a temporary
directory of the parent's) and every worker's `/metrics` answers for all of them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from multiprocessing.connection import wait
from types import FrameType

import structlog
import uvloop
from aiohttp import web

from ingress.app import create_app
from ingress.logs import configure_ingress_logging
from ingress.serve import server_options
from ingress.settings import IngressSettings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
SHUTDOWN_TIMEOUT = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = structlog.get_logger("ingress")


def serve(settings: IngressSettings, *, reuse_port: bool = False) -> None:
    """Serve the app in this process until SIGTERM or SIGINT."""
    web.run_app(
        create_app(settings),
        # uvloop: the event loop's own share of each webhook (transport writes, callbacks,
        # timeouts) is about a third of what asyncio's costs.
        loop=uvloop.new_event_loop(),
        host=settings.ingress_host,
        port=settings.ingress_port,
        reuse_port=reuse_port or None,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        **server_options(settings),
    )


def _worker(settings: IngressSettings) -> None:
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent alone, which passes it on once
    configure_ingress_logging(settings.log_level, settings.log_format)
    serve(settings, reuse_port=True)


def run_workers(settings: IngressSettings) -> int:
    """Start the workers, pass stop signals on, and return once all have ended."""
    with tempfile.TemporaryDirectory(prefix="tevo-ingress-metrics-") as metrics_dir:
        # Set before the workers start: each imports prometheus_client afresh (spawn).
        os.environ[MULTIPROCESS_DIR] = metrics_dir
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_worker, args=(settings,), name=f"ingress-worker-{n}")
            for n in range(settings.ingress_workers)
        ]
        stopping = False

        def stop(signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            for worker in workers:
                if worker.pid is not None and worker.exitcode is None:
                    os.kill(worker.pid, signum)

        for signum in STOP_SIGNALS:
            signal.signal(signum, stop)
        for worker in workers:
            worker.start()
        log.info("ingress.workers_started", pids=[w.pid for w in workers])
        ended = wait([w.sentinel for w in workers])
        if not stopping:
            log.error("ingress.worker_died", pids=[w.pid for w in workers if w.sentinel in ended])
            stop(signal.SIGTERM, None)
        for worker in workers:
            worker.join(SHUTDOWN_TIMEOUT + 5)
            if worker.exitcode is None:
                worker.kill()
                worker.join()
        log.info("ingress.workers_stopped", exit_codes=[w.exitcode for w in workers])
    return 0 if stopping and all(w.exitcode == 0 for w in workers) else 1
