"""The Kubernetes manifests keep the runbook's operational promises.

Autoscalers own the replica counts, optional credentials are optional, every pod sits behind a
NetworkPolicy, the migration runs in one order, the database is backed up and restorable, and
compose and Kubernetes ship the same store versions. Schemas are checked in test_manifests.py.
"""

from __future__ import annotations

import yaml

from processor.commands import generate
from tests.unit.deploy.test_manifests import (
    BASE,
    MANIFESTS,
    PRODUCTION,
    RESTORE,
    ROOT,
    WORKLOADS,
    Manifest,
    _by_kind,
    _documents,
    _kustomization,
    _manifests,
    _one,
    _pod_spec,
)


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
