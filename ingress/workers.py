"""Run `TEVO_INGRESS_WORKERS` ingress processes on one port, and stop them together.

One Python process uses one core. Each worker is a whole `python -m ingress` (its own broker
connection, its own in-flight limit) listening with SO_REUSEPORT, and the kernel spreads
connections among them. This parent only starts, watches and stops them, and imports nothing
of the app: SIGTERM or SIGINT is passed on and each worker shuts down gracefully; a worker
that dies on its own takes the others down with it (exit 1), so that the orchestrator
restarts a whole ingress, never a partial one.

Metrics: `/metrics` on the shared port reaches one worker at random, so with several workers
the counters live in prometheus-client's multiprocess mode (one file per worker in a temporary
directory of the parent's) and every worker's `/metrics` answers for all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from types import FrameType

import structlog

from contracts.variables import ALL
from ingress.settings import IngressSettings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
STOP_TIMEOUT = 20.0  # a worker's own graceful shutdown takes up to 10 s
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = structlog.get_logger(__name__)


def run_workers(settings: IngressSettings) -> int:
    """Start the workers, pass stop signals on, and return once all have ended."""
    with tempfile.TemporaryDirectory(prefix="tevo-ingress-metrics-") as metrics_dir:
        env = {
            # Without the TEVO_* variables no program reads: the parent warned of them once.
            **{k: v for k, v in os.environ.items() if not k.startswith("TEVO_") or k in ALL},
            "TEVO_INGRESS_WORKERS": "1",
            "TEVO_INGRESS_REUSE_PORT": "true",
            MULTIPROCESS_DIR: metrics_dir,
        }
        workers: list[subprocess.Popen[bytes]] = []
        stopping = False

        def stop(signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signum)

        for signum in STOP_SIGNALS:
            signal.signal(signum, stop)
        for _ in range(settings.ingress_workers):
            workers.append(_start(env))
        if stopping:  # a signal came while they started: pass it to those it missed
            stop(signal.SIGTERM, None)
        log.info("ingress.workers_started", pids=[w.pid for w in workers])
        pid, status = os.wait()  # the first worker to end, whatever the reason
        for worker in workers:
            if worker.pid == pid:  # reaped here, so Popen cannot learn its status itself
                worker.returncode = os.waitstatus_to_exitcode(status)
        died = not stopping
        if died:
            log.error("ingress.worker_died", pid=pid, exit_code=os.waitstatus_to_exitcode(status))
            stop(signal.SIGTERM, None)
        codes = [_ended(worker) for worker in workers]
        log.info("ingress.workers_stopped", exit_codes=codes)
    return 1 if died or any(code != 0 for code in codes) else 0


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own process group: a terminal's Ctrl-C reaches the parent, which passes it on once.
    return subprocess.Popen([sys.executable, "-m", "ingress"], env=env, process_group=0)


def _ended(worker: subprocess.Popen[bytes]) -> int:
    """The worker's exit status; killed if it has not ended in `STOP_TIMEOUT`."""
    try:
        return worker.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.wait()
