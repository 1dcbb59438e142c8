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

ROOT = Path(__file__).resolve().parents[2]
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
            assert (ROOT / source).exists(), source


def test_no_replica_count_where_an_autoscaler_owns_it() -> None:
    owned = {doc["spec"]["scaleTargetRef"]["name"] for doc in _by_kind("HorizontalPodAutoscaler")}
    owned |= {doc["spec"]["scaleTargetRef"]["name"] for doc in _by_kind("ScaledObject")}
    assert owned == {"tevo-ingress", "tevo-processor"}
    for name in owned:
        # Every apply would reset the autoscaler's count to it, mid-backlog.
        assert "replicas" not in _one("Deployment", name)["spec"], name


def test_the_tevo_api_secret_is_optional_wherever_it_is_read() -> None:
    refs = [
        ref["secretRef"]
        for _, doc in WORKLOADS
        for container in _pod_spec(doc)["containers"]
        for ref in container.get("envFrom", [])
        if "secretRef" in ref
    ]
    assert {ref["name"] for ref in refs} == {"tevo-api"}
    assert all(ref.get("optional") is True for ref in refs)


def test_network_policies_guard_every_pod_of_the_service() -> None:
    policies = {doc["metadata"]["name"]: doc["spec"] for doc in _by_kind("NetworkPolicy")}
    guarded: set[str] = set()
    for spec in policies.values():
        assert spec["policyTypes"] == ["Ingress"]
        selector = spec["podSelector"]
        guarded |= set(selector.get("matchLabels", {}).values())
        for expression in selector.get("matchExpressions", []):
            guarded |= set(expression["values"])
    workloads = {_pod_labels(doc)["app.kubernetes.io/name"] for _, doc in WORKLOADS}
    assert workloads | {"tevo-rabbitmq", "tevo-postgres"} <= guarded
    # The brokers' client ports admit the app's pods only.
    (amqp,) = [r for r in policies["tevo-rabbitmq"]["ingress"] if r["ports"] == [{"port": 5672}]]
    assert {"podSelector"} == {key for peer in amqp["from"] for key in peer}
    (sql,) = [r for r in policies["tevo-postgres"]["ingress"] if r["ports"] == [{"port": 5432}]]
    assert {"podSelector"} == {key for peer in sql["from"] for key in peer}


def _pod_labels(doc: Manifest) -> dict[str, str]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    labels: dict[str, str] = spec["template"]["metadata"]["labels"]
    return labels


MIGRATION_ORDER = [
    "kubectl delete job tevo-migrate --ignore-not-found",
    "kubectl apply -k deploy/k8s/overlays/production -l tevo-pos-webhooks/step=migrate",
    "kubectl wait --for=condition=complete job/tevo-migrate --timeout=15m",
    "kubectl apply -k deploy/k8s/overlays/production",
]


def test_one_migration_order_in_the_runbook_and_the_job() -> None:
    runbook = (ROOT / "docs/operations.md").read_text()
    job_file = (BASE / "migrate-job.yaml").read_text()
    for step in MIGRATION_ORDER:
        assert step in runbook, step
        assert f"#   {step}\n" in job_file, step
    first = [doc for _, doc in MANIFESTS if _step(doc) == "migrate"]
    assert {doc["kind"] for doc in first} == {"Job", "RabbitmqCluster", "Cluster"}
    configs = _kustomization(BASE)["configMapGenerator"]
    assert [c["options"]["labels"]["tevo-pos-webhooks/step"] for c in configs] == ["migrate"]
    assert "ttlSecondsAfterFinished" not in _one("Job", "tevo-migrate")["spec"]


def _step(doc: Manifest) -> str | None:
    labels: dict[str, str] = doc["metadata"].get("labels", {})
    return labels.get("tevo-pos-webhooks/step")


def test_the_database_is_backed_up_and_restorable() -> None:
    patches = [doc for _, doc in _manifests(PRODUCTION) if doc["kind"] == "Cluster"]
    (backup,) = [doc["spec"]["backup"] for doc in patches]
    assert backup["barmanObjectStore"]["destinationPath"].startswith("s3://CHANGE-ME")
    (scheduled,) = [doc for _, doc in _manifests(PRODUCTION) if doc["kind"] == "ScheduledBackup"]
    assert scheduled["spec"]["cluster"]["name"] == "tevo-postgres"
    assert len(scheduled["spec"]["schedule"].split()) == 6  # CloudNativePG's cron has seconds
    (_, restore), *_ = _documents(RESTORE, "restore")
    (origin,) = restore["spec"]["externalClusters"]
    assert restore["spec"]["bootstrap"]["recovery"]["source"] == origin["name"]
    store = origin["barmanObjectStore"]
    assert store["destinationPath"] == backup["barmanObjectStore"]["destinationPath"]
    assert restore["spec"]["backup"]["barmanObjectStore"]["serverName"] != store["serverName"]
    runbook = (ROOT / "docs/operations.md").read_text()
    assert "`tevo-postgres-backup`" in runbook
    assert "## Restore" in runbook


def test_compose_and_kubernetes_ship_the_same_store_versions() -> None:
    # docs/operations.md, Versions: Postgres 15 as CI tests; RabbitMQ 3.13 everywhere.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    postgres = {
        compose["postgres"]["image"].split(":")[1],
        _one("Cluster", "tevo-postgres")["spec"]["imageName"].split(":")[1],
        _documents(RESTORE, "restore")[0][1]["spec"]["imageName"].split(":")[1],
    }
    assert postgres == {"15"}
    rabbitmq = {
        compose["rabbitmq"]["image"],
        _one("RabbitmqCluster", generate.RABBITMQ_CLUSTER)["spec"]["image"],
    }
    assert len(rabbitmq) == 1
