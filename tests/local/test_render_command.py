"""``python -m meshvis render`` as a real process: for ``dev`` and ``dev-eks`` it writes every
document, each parseable and equal to what the Pulumi program deploys, and says how many in one
line; a bad stack gets one error line and exit code 2 (tests/unit/meshvis/test_render_ecs.py
and test_render_eks.py check the documents in-process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from components.ecs.agent import cloudwatch_agent_config
from components.ecs.containers import container_definitions
from components.eks.monitoring import monitoring_values
from components.eks.tempo import tempo_values
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.demo_app import demo_app_source
from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import alert_topic_policy, composite_alarm_specs, slo_alarm_specs
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.rules import rules_file
from meshvis.render import MARKER
from meshvis.render.ecs import example_topic_arn
from meshvis.render.eks import RULES_FILE, kubernetes_objects, standalone_prometheus_config
from tests.conftest import ROOT
from tests.support.shop_graphs import shop_config

pytestmark = pytest.mark.integration


def _render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "meshvis", "render", "--list", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_render_dev_writes_every_ecs_document(tmp_path):
    out = tmp_path / "dev"
    done = _render("--stack", "dev", "--out", str(out))
    assert done.returncode == 0, done.stderr
    settings = stack_settings("dev")
    names = [s.name for s in settings.services]
    expected = {
        *(f"envoy/{n}.yaml" for n in names),
        *(f"ecs/{n}-containers.json" for n in names),
        *(f"resources/{n}.json" for n in names),
        "resources.json",
        "cloudwatch-agent.json",
        "cloudwatch-dashboard.json",
        "alarms.json",
        "slo-alarms.json",
        "slo-composite-alarms.json",
        "alert-topic-policy.json",
        "logs-insights-queries.json",
    }
    written = {str(Path(line).relative_to(out)) for line in done.stdout.splitlines()}
    assert written == expected
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == {*expected, MARKER}

    for service in settings.services:
        bootstrap = yaml.safe_load((out / f"envoy/{service.name}.yaml").read_text())
        assert bootstrap == envoy_bootstrap(settings, service)
        containers = json.loads((out / f"ecs/{service.name}-containers.json").read_text())
        assert containers == container_definitions(settings, service)

    def load(name: str):
        return json.loads((out / name).read_text())

    assert load("cloudwatch-agent.json") == cloudwatch_agent_config(settings)
    assert load("cloudwatch-dashboard.json") == dashboard_body(
        settings, "app/greeting-alb/EXAMPLE", "targetgroup/greeting-tg/EXAMPLE"
    )
    topic = example_topic_arn(settings)
    assert load("alarms.json") == alarm_specs(settings, topic)
    assert load("slo-alarms.json") == slo_alarm_specs(settings)
    assert load("slo-composite-alarms.json") == composite_alarm_specs(settings, topic)
    assert load("alert-topic-policy.json") == alert_topic_policy(topic)
    assert load("logs-insights-queries.json") == query_definitions(settings)


def test_bad_stack_prints_one_error_line_and_exits_2(tmp_path):
    config = shop_config(
        services=[{"name": "api", "port": 3000, "upstreams": ["gone"]}], entryService=None
    )
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    out = tmp_path / "out"
    done = _render("--stack", "bad", "--root", str(tmp_path), "--out", str(out))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: mesh-visibility:services[0].upstreams: unknown service 'gone'"
    )
    assert not out.exists()


def test_render_says_how_many_files_it_wrote_and_where():
    """As the README writes it (from the project root, a relative folder): one line."""
    out = f"out-render-test-{uuid.uuid4().hex[:8]}/render-dev"
    try:
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "meshvis"), "render", "--stack", "dev", "--out", out],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        written = [p for p in (ROOT / out).rglob("*") if p.is_file() and p.name != MARKER]
        assert done.stdout == f"wrote {len(written)} files to {out}/ (--list names them)\n"
    finally:
        shutil.rmtree(ROOT / out.split("/")[0], ignore_errors=True)


def test_render_dev_eks_writes_every_document(tmp_path):
    out = tmp_path / "dev-eks"
    done = _render("--stack", "dev-eks", "--out", str(out))
    assert done.returncode == 0, done.stderr
    settings = stack_settings("dev-eks")
    objects = kubernetes_objects(settings, demo_app_source())
    written = sorted(str(Path(line).relative_to(out)) for line in done.stdout.splitlines())
    k8s_files = sorted(p for p in written if p.startswith("k8s/"))
    assert len(k8s_files) == len(objects)
    assert set(written) - set(k8s_files) == {
        "monitoring-values.yaml",
        "grafana/mesh-overview.json",
        "grafana/envoy-detail.json",
        "grafana/slos.json",
        RULES_FILE,
        "prometheus.yml",
        "tempo-values.yaml",
        "helm/kps.yaml",
        "helm/tempo.yaml",
    }
    assert yaml.safe_load((out / "tempo-values.yaml").read_text()) == tempo_values()
    # Numbered in apply order: `kubectl apply -f k8s/` creates namespaces first.
    assert [yaml.safe_load((out / f).read_text()) for f in k8s_files] == objects

    assert yaml.safe_load((out / "monitoring-values.yaml").read_text()) == monitoring_values(
        settings
    )
    for filename, dashboard in grafana_dashboards(settings).items():
        assert json.loads((out / "grafana" / filename).read_text()) == dashboard
    assert yaml.safe_load((out / RULES_FILE).read_text()) == rules_file(settings)
    assert yaml.safe_load((out / "prometheus.yml").read_text()) == standalone_prometheus_config(
        settings
    )
