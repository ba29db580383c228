"""The documents of an ``eks`` stack, as ``meshvis render`` writes them.

``k8s/`` holds every Kubernetes object the stack creates besides the cluster and the Helm
release, numbered in apply order: with the release installed (``helm install kps
prometheus-community/kube-prometheus-stack --version <CHART_VERSION> -n monitoring -f
monitoring-values.yaml``), ``kubectl apply -f k8s/`` deploys the mesh on any cluster.
With ``tracing``, ``tempo-values.yaml`` are the values of the Tempo release (``helm install
tempo grafana-community/tempo --version <tempo CHART_VERSION> -n monitoring -f
tempo-values.yaml``). ``prometheus.yml`` with ``prometheus-rules.yaml`` is a Prometheus configuration with the same
scrape job and alert rules, for a Prometheus outside the operator.
"""

from __future__ import annotations

import json

import yaml

from components.eks.monitoring import dashboard_config_maps, monitoring_values, prometheus_rule
from components.eks.objects import mesh_objects
from components.eks.tempo import tempo_network_policy, tempo_values
from components.settings.model import Settings
from components.sidecar.demo_app import demo_app_source
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.rules import rules_file
from dashboards.prometheus.scrape import kubernetes_scrape_job, prometheus_config

RULES_FILE = "prometheus-rules.yaml"


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (bootstraps, the demo app) as readable ``|`` blocks, and
    repeated values (a Deployment's selector labels) in full rather than as YAML aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def to_yaml(document: object) -> str:
    """YAML of a document, keys in their given order, multi-line strings as blocks."""
    return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)


def kubernetes_objects(settings: Settings, app_source: str) -> list[dict]:
    """Every Kubernetes object of the stack besides the cluster and the Helm release, in
    apply order (the PrometheusRule last: its kind comes with the release)."""
    tracing = [tempo_network_policy(settings)] if settings.tracing else []
    return [
        *mesh_objects(settings, app_source),
        *dashboard_config_maps(settings),
        *tracing,
        prometheus_rule(settings),
    ]


def standalone_prometheus_config(settings: Settings) -> dict:
    """A Prometheus configuration with the mesh's scrape job and alert rules, for a
    Prometheus outside the operator (its usual 30 s interval)."""
    return prometheus_config(
        kubernetes_scrape_job(settings.kubernetes_namespace), [RULES_FILE], interval="30s"
    )


def eks_documents(settings: Settings) -> dict[str, str]:
    """Every generated document of an ``eks`` stack: relative path -> file text."""
    documents: dict[str, str] = {}
    for index, obj in enumerate(kubernetes_objects(settings, demo_app_source())):
        name = f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}"
        documents[f"k8s/{name}.yaml"] = to_yaml(obj)
    documents["monitoring-values.yaml"] = to_yaml(monitoring_values(settings))
    if settings.tracing:
        documents["tempo-values.yaml"] = to_yaml(tempo_values())
    for filename, dashboard in grafana_dashboards(settings).items():
        documents[f"grafana/{filename}"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    documents[RULES_FILE] = to_yaml(rules_file(settings))
    documents["prometheus.yml"] = to_yaml(standalone_prometheus_config(settings))
    return documents
