"""The monitoring under deploy/k8s/monitoring is valid PromQL and alerts when the runbook says.

`promtool` (Debian's `prometheus` package; `.ci/run` installs it) checks the rules and runs
unit tests of the alerts on made-up series: silence is seen from the start, with or without a
series, and a first dead letter after a restart fires. The dashboard's queries are checked the
same way, as recording rules. Without promtool these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts import DOCUMENTED_ROUTING_KEYS
from tests.unit.test_doc_links import anchors

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "deploy/k8s/monitoring"
RULE = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
DASHBOARD: dict[str, Any] = json.loads(
    (MONITORING / "dashboards/tevo-pos-webhooks.json").read_text()
)
ROUTING = yaml.safe_load((ROOT / "deploy/alertmanager/routing.example.yaml").read_text())
RUNBOOK = ROOT / "docs/operations.md"
PODMONITORS = [d for d in yaml.safe_load_all((MONITORING / "pod-monitors.yaml").read_text()) if d]
ALERTS = {r["alert"]: r for group in RULE["spec"]["groups"] for r in group["rules"]}


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus); CI runs these")
    return found


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, check=False)  # noqa: S603 - our own arguments, no shell


def _write_rules(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}))
    return path


def test_promtool_accepts_the_rules(promtool: str, tmp_path: Path) -> None:
    rules = _write_rules(tmp_path / "rules.yaml", RULE["spec"]["groups"])
    result = _run(promtool, "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_refuses_an_expression_escaped_for_markdown(promtool: str, tmp_path: Path) -> None:
    # What the runbook's table held: `\|` inside a regex, written for Markdown, not PromQL.
    broken = {"alert": "Broken", "expr": 'sum(x{queue=~"a\\|b"}) > 0'}
    rules = _write_rules(tmp_path / "rules.yaml", [{"name": "broken", "rules": [broken]}])
    assert _run(promtool, "check", "rules", str(rules)).returncode != 0


def _alert(name: str, at: str, labels: dict[str, str] | None) -> dict[str, Any]:
    expected = []
    if labels is not None:
        rule = ALERTS[name]
        annotations = {
            key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m[1]], text)
            for key, text in rule["annotations"].items()
        }
        expected = [{"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def _received(status: str, values: str) -> dict[str, str]:
    labels = f'recipient="seller",event_type="order_created",status="{status}"'
    return {
        "series": f'tevo_webhooks_received_total{{job="tevo-ingress",{labels}}}',
        "values": values,
    }


ALERT_TESTS: list[dict[str, Any]] = [
    {  # a new ingress that never hears from TEvo: its counters sit at 0 (pre-initialised)
        "interval": "1m",
        "input_series": [_received("202", "0x30")],
        "alert_rule_test": [
            _alert("TevoWebhookSilence", "5m", None),
            _alert("TevoWebhookSilence", "15m", {}),
        ],
    },
    {  # no series at all
        "interval": "1m",
        "input_series": [{"series": 'up{job="tevo-ingress"}', "values": "1x30"}],
        "alert_rule_test": [_alert("TevoWebhookSilence", "15m", {})],
    },
    {  # webhooks arriving
        "interval": "1m",
        "input_series": [_received("202", "0+3x90")],
        "alert_rule_test": [_alert("TevoWebhookSilence", "80m", None)],
    },
    {  # the first dead letter after a restart: the series was 0, then 1
        "interval": "1m",
        "input_series": [
            {
                "series": 'tevo_processor_messages_total{consumer="seller.order_created",'
                'outcome="dead_lettered"}',
                "values": "0 0 0 1 1 1 1",
            }
        ],
        "alert_rule_test": [
            _alert("TevoDeadLetters", "2m", None),
            _alert("TevoDeadLetters", "4m", {"consumer": "seller.order_created"}),
        ],
    },
    {  # an ingress down, then none scraped at all
        "interval": "1m",
        "input_series": [{"series": 'up{job="tevo-ingress"}', "values": "1 1 0x10 _x20"}],
        "alert_rule_test": [
            _alert("TevoIngressDown", "1m", None),
            _alert("TevoIngressDown", "10m", {}),
            _alert("TevoIngressDown", "25m", {}),
        ],
    },
    {  # the consumer-queue regex counts consumer queues, not dead letters or delays
        "interval": "1m",
        "input_series": [
            {
                "series": "rabbitmq_detailed_queue_messages_ready"
                '{queue="tevo.seller.order_created"}',
                "values": "2000x20",
            },
            {
                "series": 'rabbitmq_detailed_queue_messages_ready{queue="tevo.delay.600s"}',
                "values": "5000x20",
            },
        ],
        "alert_rule_test": [_alert("TevoBacklog", "15m", {})],
    },
]


def test_the_alerts_fire_when_the_runbook_says(promtool: str, tmp_path: Path) -> None:
    _write_rules(tmp_path / "rules.yaml", RULE["spec"]["groups"])
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": ALERT_TESTS}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    result = _run(promtool, "test", "rules", str(tmp_path / "tests.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def _dashboard_queries() -> list[str]:
    return [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    # Grafana fills $__rate_interval in; any duration parses the same way.
    records = [
        {"record": f"tevo:dashboard_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(_dashboard_queries())
    ]
    rules = _write_rules(tmp_path / "rules.yaml", [{"name": "dashboard", "rules": records}])
    result = _run(promtool, "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "metric",
    [
        "tevo_webhooks_received_total",
        'outcome="applied"',
        "tevo_processor_end_to_end_seconds_bucket",
        "rabbitmq_detailed_queue_messages_ready",
        "dead",
        "tevo_sales_awaiting_review",
        "tevo_processor_paused_seconds_total",
        "tevo_build_info",
    ],
)
def test_the_dashboard_shows_what_an_operator_watches(metric: str) -> None:
    assert any(metric in query for query in _dashboard_queries()), metric


def test_the_dashboard_panels_are_distinct_and_on_the_datasource_variable() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_the_jobs_the_alerts_name_are_the_ones_the_pod_monitors_make() -> None:
    jobs = set()
    for monitor in PODMONITORS:
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
        jobs.add(monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"])
    text = yaml.safe_dump(RULE) + json.dumps(DASHBOARD)
    named = set(re.findall(r'job="(tevo-[a-z]+)"', text))
    named |= {
        j
        for alt in re.findall(r'job=~"([^"]+)"', text)
        for j in alt.split("|")
        if not j.startswith("$")  # the dashboard's variable, tested below
    }
    assert named, "the alerts select on job"
    assert named <= jobs


def test_the_queue_patterns_cover_every_documented_consumer_queue() -> None:
    (pattern,) = set(re.findall(r'queue=~"(tevo[^"]*\(seller[^"]*)"', yaml.safe_dump(RULE)))
    regex = re.compile(pattern.replace("\\\\", "\\"))
    for key in DOCUMENTED_ROUTING_KEYS:
        assert regex.fullmatch(f"tevo.{key}"), key
    assert not regex.fullmatch("tevo.seller.order_created.dead")


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_every_alert_says_what_to_do_and_links_its_runbook_section(name: str) -> None:
    annotations = ALERTS[name]["annotations"]
    assert len(annotations["description"]) > 40, "a description says what to do"
    path, _, anchor = annotations["runbook_url"].partition("#")
    assert (ROOT / path).resolve() == RUNBOOK.resolve()
    assert anchor in anchors(RUNBOOK.read_text()), f"no heading #{anchor} in {path}"


@pytest.fixture
def amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("amtool is missing: .ci/run installs Debian's prometheus-alertmanager")
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager); CI runs it")
    return found


def test_the_routing_example_is_a_valid_alertmanager_configuration(amtool: str) -> None:
    example = ROOT / "deploy/alertmanager/routing.example.yaml"
    result = _run(amtool, "check-config", str(example))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("severity", "receiver"),
    [("critical", "tevo-pager"), ("warning", "tevo-chat"), ("info", "tevo-digest")],
)
def test_critical_pages_a_person(amtool: str, severity: str, receiver: str) -> None:
    example = ROOT / "deploy/alertmanager/routing.example.yaml"
    labels = ["alertname=TevoIngressDown", f"severity={severity}"]
    result = _run(amtool, "config", "routes", "test", f"--config.file={example}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
    if severity == "critical":
        (pager,) = [r for r in ROUTING["receivers"] if r["name"] == receiver]
        assert pager["pagerduty_configs"]


def test_every_severity_of_the_rules_has_a_route() -> None:
    severities = {rule["labels"]["severity"] for rule in ALERTS.values()}
    routed = {m for route in ROUTING["route"]["routes"] for m in route["matchers"]}
    assert {f'severity="{s}"' for s in severities - {"warning"}} <= routed


def test_the_dashboard_has_namespace_and_job_variables_on_every_query() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert {"datasource", "namespace", "job"} <= set(variables)
    assert variables["job"]["multi"] is True
    for query in _dashboard_queries():
        assert 'namespace="$namespace"' in query, query
        if "tevo_" in query or "process_" in query:
            assert 'job=~"$job"' in query, query
