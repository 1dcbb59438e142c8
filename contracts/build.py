"""The metrics every registry has, besides a service's own: process, Python, and build info.

Each service keeps its metrics in a registry of its own (tests build many), so the collectors
prometheus-client puts in its global registry are added here by hand: process (CPU, memory, open
files), platform (`python_info`) and garbage collection, and `tevo_build_info`, which says which
release and Python a process runs, for dashboards and for telling a half-done rollout.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.release import version


class BuildInfo(Collector):
    """`tevo_build_info{service, version, python} 1`."""

    def __init__(self, service: str) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "tevo_build_info",
            "The running release: always 1; its labels say which.",
            labels=["service", "version", "python"],
        )
        family.add_metric([self.service, version(), platform.python_version()], 1)
        yield family


def add_standard_collectors(
    registry: CollectorRegistry, service: str, *, per_process: bool = True
) -> None:
    """Build info and Python's platform into `registry`; with `per_process`, process and GC too.

    `per_process=False` is for a registry that merges several processes' files, where one
    process's CPU and memory would pass for all of them.
    """
    registry.register(BuildInfo(service))
    PlatformCollector(registry=registry)
    if per_process:
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
