"""docker-compose.yml cannot lose the first-boot race, and publishes nothing beyond the host.

Each healthcheck proves what a client needs (a TCP connection, not a process that runs), the
migration waits for both stores and is restarted if it fails anyway, the services start only
after it succeeded, and every published port is on 127.0.0.1 unless the operator says otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
STORES = ("rabbitmq", "postgres")
APPS = ("ingress", "processor")
# `127.0.0.1:H:C`, or the same with the address taken from a variable whose default is loopback.
LOOPBACK_PORT = re.compile(r"^(127\.0\.0\.1|\$\{[A-Z_]+:-127\.0\.0\.1\}):\d+:\d+$")


def _test(service: str) -> list[str]:
    test: list[str] = SERVICES[service]["healthcheck"]["test"]
    assert test[0] == "CMD", f"{service}: an exec-form healthcheck, no shell to misquote"
    return test[1:]


def _depends(service: str) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in SERVICES[service]["depends_on"].items()}


def test_the_services_are_the_ones_the_readme_starts() -> None:
    assert set(SERVICES) == {*STORES, "migrate", *APPS, "reconcile", "console", "retention"}
    assert SERVICES["reconcile"]["profiles"] == ["reconcile"]
    assert SERVICES["console"]["profiles"] == ["console"]
    assert SERVICES["retention"]["profiles"] == ["retention"]


def test_postgres_is_healthy_only_when_it_takes_tcp_connections() -> None:
    test = _test("postgres")
    assert test[0] == "pg_isready"
    # Without -h pg_isready uses the socket, where the image's initdb server already answers.
    assert test[test.index("-h") + 1] == "127.0.0.1"
    user = SERVICES["postgres"]["environment"]["POSTGRES_USER"]
    assert test[test.index("-U") + 1] == user


def test_rabbitmq_is_healthy_only_when_its_listeners_take_connections() -> None:
    test = _test("rabbitmq")
    assert test[0] == "rabbitmq-diagnostics"
    assert "check_port_connectivity" in test
    assert "ping" not in test  # the node answers a ping before AMQP listens


@pytest.mark.parametrize("service", [*STORES, *APPS, "console"])
def test_every_long_running_service_has_a_healthcheck(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["retries"] >= 3
    assert _test(service)


def test_migrate_waits_for_healthy_stores_and_is_restarted_if_it_fails() -> None:
    migrate = SERVICES["migrate"]
    assert migrate["command"][:4] == ["python", "-m", "processor", "migrate"]
    wait = migrate["command"].index("--wait")
    assert int(migrate["command"][wait + 1]) >= 30
    assert migrate["restart"] == "on-failure"
    assert _depends("migrate") == dict.fromkeys(STORES, "service_healthy")


@pytest.mark.parametrize("service", [*APPS, "reconcile", "console", "retention"])
def test_the_services_start_only_after_a_successful_migration(service: str) -> None:
    assert _depends(service) == {"migrate": "service_completed_successfully"}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_published_port_is_on_loopback_by_default(service: str) -> None:
    for port in SERVICES[service].get("ports", []):
        assert LOOPBACK_PORT.match(port), (service, port)


def test_the_loopback_check_refuses_a_port_on_every_interface() -> None:
    assert not LOOPBACK_PORT.match("8080:8080")
    assert not LOOPBACK_PORT.match("${PUBLISH_ADDRESS:-0.0.0.0}:8080:8080")
    assert LOOPBACK_PORT.match("${PUBLISH_ADDRESS:-127.0.0.1}:8080:8080")
