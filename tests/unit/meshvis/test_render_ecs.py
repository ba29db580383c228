"""``python -m meshvis render`` writes every document of a stack, each parseable and equal to
what the Pulumi program deploys; a bad stack gets one error line and exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from components.ecs.agent import cloudwatch_agent_config
from components.ecs.containers import container_definitions
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import alert_topic_policy, composite_alarm_specs, slo_alarm_specs
from meshvis.render import MARKER, stack_documents
from meshvis.render.ecs import example_topic_arn
from tests.support.shop_graphs import shop_config

ROOT = Path(__file__).resolve().parents[3]


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
    assert load("alarms.json") == alarm_specs(settings)
    topic = example_topic_arn(settings)
    assert load("slo-alarms.json") == slo_alarm_specs(settings)
    assert load("slo-composite-alarms.json") == composite_alarm_specs(settings, topic)
    assert load("alert-topic-policy.json") == alert_topic_policy(topic)
    assert load("logs-insights-queries.json") == query_definitions(settings)


def test_render_without_entry_service_has_no_load_balancer_in_the_dashboard():
    settings = settings_from_config(shop_config(entryService=None))
    documents = stack_documents(settings)
    assert json.loads(documents["cloudwatch-dashboard.json"]) == dashboard_body(
        settings, None, None
    )
    assert len([p for p in documents if p.startswith("envoy/")]) == 6


def test_render_eks_stack_writes_the_eks_documents():
    from meshvis.render.eks import eks_documents

    settings = stack_settings("dev-eks")
    assert stack_documents(settings) == eks_documents(settings)


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
