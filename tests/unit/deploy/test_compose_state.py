"""Compose keeps its state across `down`/`up`, recreation and image updates.

Postgres and every RabbitMQ node keep their data in named volumes (an anonymous volume is
orphaned by `down`, a container's own layer is gone with it), each RabbitMQ node has a fixed
hostname (its data directory is named after `rabbit@<hostname>`, so a new hostname starts
empty), and no file fixed to one namespace is imported at boot: `migrate` declares the queues
and sets the policies of whatever TEVO_NAMESPACE says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DATA_DIRS = {"postgres": "/var/lib/postgresql/data", "rabbitmq": "/var/lib/rabbitmq"}


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def _merged() -> dict[str, Any]:
    """docker-compose.yml with docker-compose.cluster.yml over it, merged as compose does:
    volumes by their target path and mappings key by key, the override winning."""
    base, override = _load("docker-compose.yml"), _load("docker-compose.cluster.yml")
    services = {name: dict(service) for name, service in base["services"].items()}
    for name, service in override["services"].items():
        merged = services.setdefault(name, {})
        by_target = {v.split(":")[1]: v for v in merged.get("volumes", [])}
        by_target.update({v.split(":")[1]: v for v in service.get("volumes", [])})
        for key, value in service.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            elif key != "volumes":
                merged[key] = value
        merged["volumes"] = list(by_target.values())
    volumes = {**base.get("volumes", {}), **override.get("volumes", {})}
    return {"services": services, "volumes": volumes}


SETUPS = {"single node": lambda: _load("docker-compose.yml"), "cluster": _merged}


def _stores(compose: dict[str, Any]) -> dict[str, str]:
    """Each stateful service and the directory that holds its data."""
    return {
        name: DATA_DIRS["rabbitmq" if name.startswith("rabbitmq") else "postgres"]
        for name in compose["services"]
        if name.startswith(("rabbitmq", "postgres"))
    }


@pytest.mark.parametrize("setup", SETUPS)
def test_every_store_keeps_its_data_in_a_named_volume_of_its_own(setup: str) -> None:
    compose = SETUPS[setup]()
    stores = _stores(compose)
    assert len(stores) == (2 if setup == "single node" else 4)
    used = []
    for name, data_dir in stores.items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"][name]["volumes"]}
        source = mounts.get(data_dir)
        assert source is not None, f"{name}: {data_dir} is not a volume: lost on recreation"
        assert not source.startswith((".", "/")), f"{name}: a named volume, not a host path"
        assert source in compose["volumes"], f"{name}: {source} is not declared under volumes"
        used.append(source)
    assert len(set(used)) == len(used), "two stores share one volume"


@pytest.mark.parametrize("setup", SETUPS)
def test_every_rabbitmq_node_has_a_fixed_node_name(setup: str) -> None:
    compose = SETUPS[setup]()
    for name, service in compose["services"].items():
        if name.startswith("rabbitmq"):
            assert service.get("hostname") == name, f"{name}: the data dir follows the hostname"


@pytest.mark.parametrize("setup", SETUPS)
def test_no_topology_fixed_to_one_namespace_is_imported_at_boot(setup: str) -> None:
    compose = SETUPS[setup]()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            target = volume.split(":")[1]
            if "definitions.d" in target:
                assert volume.split(":")[0].endswith("local-user.json"), (name, volume)
    migrate = compose["services"]["migrate"]
    assert migrate["environment"]["TEVO_NAMESPACE"] == "${TEVO_NAMESPACE:-tevo}"
    assert migrate["command"][:4] == ["python", "-m", "processor", "migrate"]


def test_the_retention_job_runs_only_with_its_profile_after_the_migration() -> None:
    service = _load("docker-compose.yml")["services"]["retention"]
    assert service["profiles"] == ["retention"]
    assert service["command"][:5] == ["python", "-m", "processor", "retention", "run"]
    assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert "--dry-run" not in service["command"]
