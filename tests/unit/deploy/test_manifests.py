"""Every deployment file is valid against its schema and keeps the promises the runbook makes.

Kubernetes' own kinds are checked with the strict schemas `kubernetes-validate` ships; operators'
kinds with the CRD subsets in tests/schemas/crd (see its README); docker-compose.yml with the
Compose Specification's schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator, Draft201909Validator

from contracts import Topology
from ingress.settings import IngressSettings
from processor.commands import generate
from processor.registry import CONSUMERS
from processor.settings import ProcessorSettings

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy/k8s/base"
SCHEMAS = ROOT / "tests/schemas"
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests promise to run on

Manifest = dict[str, Any]


def _kustomization(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


MONITORING = ROOT / "deploy/k8s/monitoring"
PRODUCTION = ROOT / "deploy/k8s/overlays/production"
RESTORE = ROOT / "deploy/k8s/restore/tevo-postgres-restore.yaml"


def _documents(path: Path, label: str) -> list[tuple[str, Manifest]]:
    return [
        (f"{label}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _manifests(directory: Path = BASE) -> list[tuple[str, Manifest]]:
    """The YAML files a kustomization lists (not the directories it includes), and its patches."""
    kustomization = _kustomization(directory)
    files = [r for r in kustomization["resources"] if r.endswith(".yaml")]
    files += [patch["path"] for patch in kustomization.get("patches", [])]
    return [item for name in files for item in _documents(directory / name, name)]


MANIFESTS = _manifests()
# Validated like the base, but kept apart: the overlay's patch and the restore manifest are a
# second `Cluster/tevo-postgres` each.
OTHERS = [*_manifests(MONITORING), *_manifests(PRODUCTION), *_documents(RESTORE, "restore")]
IDS = [name for name, _ in MANIFESTS]


def _by_kind(kind: str) -> list[Manifest]:
    return [doc for _, doc in MANIFESTS if doc["kind"] == kind]


def _one(kind: str, name: str) -> Manifest:
    (found,) = [doc for doc in _by_kind(kind) if doc["metadata"]["name"] == name]
    return found


def _crd_schema(doc: Manifest) -> dict[str, Any] | None:
    group = doc["apiVersion"].replace("/", "_")
    path = SCHEMAS / "crd" / f"{group}_{doc['kind']}.json"
    return json.loads(path.read_text()) if path.exists() else None


def validation_errors(doc: Manifest) -> list[str]:
    schema = _crd_schema(doc)
    if schema is not None:
        return [
            f"{list(e.absolute_path)}: {e.message}"
            for e in Draft7Validator(schema).iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{list(exc.absolute_path)}: {exc.message}"]
    return []


def _pod_spec(doc: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


WORKLOADS = [(n, d) for n, d in MANIFESTS if d["kind"] in {"Deployment", "Job", "CronJob"}]


@pytest.mark.parametrize(
    ("name", "doc"), [*MANIFESTS, *OTHERS], ids=[*IDS, *(n for n, _ in OTHERS)]
)
def test_manifest_is_valid_against_its_schema(name: str, doc: Manifest) -> None:
    assert validation_errors(doc) == [], name


def test_every_kind_has_a_schema() -> None:
    for name, doc in [*MANIFESTS, *OTHERS]:
        if _crd_schema(doc) is None:
            # Raises SchemaNotFoundError for a kind kubernetes-validate does not know.
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert name


def test_schemas_refuse_a_misplaced_field() -> None:
    deployment = json.loads(json.dumps(_one("Deployment", "tevo-ingress")))
    deployment["spec"]["replica"] = 3
    assert validation_errors(deployment)
    scaled = json.loads(json.dumps(_one("ScaledObject", "tevo-processor")))
    scaled["spec"]["maxReplicas"] = 3
    assert validation_errors(scaled)


@pytest.mark.parametrize("directory", [BASE, MONITORING, PRODUCTION], ids=lambda p: p.name)
def test_every_yaml_file_is_a_listed_resource_or_patch(directory: Path) -> None:
    kustomization = _kustomization(directory)
    listed = {r for r in kustomization["resources"] if r.endswith(".yaml")}
    listed |= {patch["path"] for patch in kustomization.get("patches", [])}
    on_disk = {str(p.relative_to(directory)) for p in directory.rglob("*.yaml")}
    assert on_disk - {"kustomization.yaml"} == listed
    for generator in kustomization.get("configMapGenerator", []):
        for file in generator.get("files", []):
            assert (directory / file).exists(), file


def test_the_production_overlay_builds_on_base_and_monitoring() -> None:
    included = {(PRODUCTION / r).resolve() for r in _kustomization(PRODUCTION)["resources"]}
    assert {BASE, MONITORING} <= included


@pytest.mark.parametrize(("name", "doc"), WORKLOADS, ids=[n for n, _ in WORKLOADS])
def test_workloads_are_non_root_read_only_and_sized(name: str, doc: Manifest) -> None:
    pod = _pod_spec(doc)
    assert pod["securityContext"]["runAsNonRoot"] is True, name
    assert pod["automountServiceAccountToken"] is False, name
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name
        if doc["kind"] == "Deployment":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name


def test_no_secret_is_committed_and_every_referenced_one_is_documented() -> None:
    assert _by_kind("Secret") == []
    text = "\n".join(yaml.safe_dump(doc) for _, doc in MANIFESTS)
    referenced = set(re.findall(r"secretKeyRef:\n\s+key: \S+\n\s+name: (\S+)", text))
    referenced |= set(re.findall(r"secretRef:\n\s+name: (\S+)", text))
    referenced |= {
        ref["name"]
        for doc in _by_kind("TriggerAuthentication")
        for ref in doc["spec"]["secretTargetRef"]
    }
    runbook = (ROOT / "docs/operations.md").read_text()
    assert referenced >= {"tevo-amqp", "tevo-webhook-tokens", "tevo-postgres-app"}
    for secret in referenced:
        assert f"`{secret}`" in runbook, secret


def test_keda_counts_every_consumer_queue_and_nothing_else() -> None:
    (trigger,) = _one("ScaledObject", "tevo-processor")["spec"]["triggers"]
    pattern = re.compile(trigger["metadata"]["queueName"])
    topology = Topology("tevo")
    for consumer in CONSUMERS:
        assert pattern.search(topology.consumer_queue(consumer.name)), consumer.name
        assert not pattern.search(topology.dead_letter_queue(consumer.name))
    others = [topology.unrouted, topology.retry_exchange, topology.delay_queue(10)]
    assert not [name for name in others if pattern.search(name)]


def test_ports_and_grace_periods_match_the_settings() -> None:
    processor = _pod_spec(_one("Deployment", "tevo-processor"))
    (container,) = processor["containers"]
    defaults = ProcessorSettings.model_fields
    assert container["ports"][0]["containerPort"] == defaults["processor_http_port"].default
    assert processor["terminationGracePeriodSeconds"] > defaults["shutdown_timeout"].default
    (ingress,) = _pod_spec(_one("Deployment", "tevo-ingress"))["containers"]
    assert (
        ingress["ports"][0]["containerPort"] == IngressSettings.model_fields["ingress_port"].default
    )


def test_operators_resources_are_what_the_rest_expects() -> None:
    rabbitmq = _one("RabbitmqCluster", generate.RABBITMQ_CLUSTER)
    assert rabbitmq["spec"]["replicas"] == 3
    postgres = _one("Cluster", "tevo-postgres")
    assert postgres["spec"]["instances"] >= 2
    assert postgres["spec"]["postgresql"]["synchronous"]["number"] >= 1
    reconcile = _pod_spec(_one("CronJob", "tevo-reconcile"))["containers"][0]
    assert reconcile["command"] == ["python", "-m", "processor", "reconcile"]
    retention = _one("CronJob", "tevo-retention")
    assert _pod_spec(retention)["containers"][0]["command"] == [
        *("python", "-m", "processor", "retention", "run"),
    ]
    assert retention["spec"]["concurrencyPolicy"] == "Forbid"  # two runs never overlap
    migrate = _pod_spec(_one("Job", "tevo-migrate"))["containers"][0]
    assert migrate["command"][:4] == ["python", "-m", "processor", "migrate"]
    assert "--wait" in migrate["command"]


def _compose_errors(compose: dict[str, Any]) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    return [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft201909Validator(schema).iter_errors(compose)
    ]


def test_docker_compose_is_valid_against_the_compose_specification() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert _compose_errors(compose) == []
    compose["services"]["processor"]["stop_grace"] = "40s"
    assert _compose_errors(compose)


def test_docker_compose_mounts_files_that_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a bind mount; the others are named volumes
                assert (ROOT / source).exists(), source
