"""docker-compose.cluster.yml: a valid override that makes a three-node cluster the services use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from contracts.brokers import node_of, parse_amqp_urls
from tests.unit.deploy.test_manifests import _compose_errors

ROOT = Path(__file__).resolve().parents[3]


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def test_the_override_is_valid_and_mounts_files_that_exist() -> None:
    override = _load("docker-compose.cluster.yml")
    assert _compose_errors(override) == []
    for service in override["services"].values():
        for volume in service.get("volumes", []):
            if volume.startswith("."):  # a bind mount; the others are named volumes
                assert (ROOT / volume.split(":")[0]).exists(), volume


def test_every_service_of_the_base_gets_the_three_nodes() -> None:
    base, override = _load("docker-compose.yml"), _load("docker-compose.cluster.yml")
    nodes = sorted(name for name in override["services"] if name.startswith("rabbitmq"))
    assert nodes == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    for name, service in base["services"].items():
        if "TEVO_AMQP_URL" not in service.get("environment", {}):
            continue
        urls = parse_amqp_urls(override["services"][name]["environment"]["TEVO_AMQP_URL"])
        assert [node_of(url).split(":")[0] for url in urls] == nodes, name


def test_the_nodes_discover_each_other_by_their_hostnames() -> None:
    override = _load("docker-compose.cluster.yml")
    conf = (ROOT / "deploy/rabbitmq/cluster.conf").read_text()
    listed = re.findall(r"classic_config\.nodes\.\d+ = rabbit@(\S+)", conf)
    hostnames = [s["hostname"] for n, s in override["services"].items() if n.startswith("rabbitmq")]
    assert sorted(listed) == sorted(hostnames)
    cookies = {
        s["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
        for n, s in override["services"].items()
        if n.startswith("rabbitmq")
    }
    assert len(cookies) == 1  # one cookie, or the nodes refuse each other
