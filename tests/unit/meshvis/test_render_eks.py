"""``meshvis render --stack dev-eks`` writes every Kubernetes object, the Helm values, the
Grafana dashboards, the alert rules and a Prometheus configuration, each equal to what the
Pulumi program deploys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.eks.monitoring import monitoring_values
from components.eks.tempo import tempo_values
from components.settings.errors import ConfigError
from components.settings.validate import settings_from_config
from components.sidecar.demo_app import demo_app_source
from components.stack import checked_settings, stack_settings
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.rules import rules_file
from meshvis.render.eks import (
    RULES_FILE,
    eks_documents,
    kubernetes_objects,
    standalone_prometheus_config,
    to_yaml,
)
from tests.support.shop_graphs import shop_eks_config

ROOT = Path(__file__).resolve().parents[3]


def test_render_dev_eks_writes_every_document(tmp_path):
    out = tmp_path / "dev-eks"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshvis",
            "render",
            "--list",
            "--stack",
            "dev-eks",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
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


def test_documents_of_a_larger_graph_round_trip():
    settings = settings_from_config(shop_eks_config())
    documents = eks_documents(settings)
    objects = kubernetes_objects(settings, demo_app_source())
    parsed = [
        yaml.safe_load(text) for path, text in sorted(documents.items()) if path.startswith("k8s/")
    ]
    assert parsed == objects
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert sorted(names) == sorted(s.name for s in settings.services)


def test_yaml_is_readable():
    """Multi-line strings become blocks and repeated label maps are written out in full."""
    text = to_yaml({"a": {"x": "1"}, "b": "line 1\nline 2\n", "c": [{"x": "1"}]})
    assert "|" in text and "&id" not in text and "*id" not in text
    shared = {"app": "nginx"}
    text = to_yaml({"selector": shared, "labels": shared})
    assert "&" not in text and yaml.safe_load(text) == {"selector": shared, "labels": shared}


def test_a_reserved_namespace_is_refused_before_rendering():
    with pytest.raises(ConfigError, match="kubernetesNamespace: 'default' is reserved"):
        checked_settings(shop_eks_config(kubernetesNamespace="default"))
