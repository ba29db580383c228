"""The monitoring stack of the EKS topology (pure): kube-prometheus-stack's Helm values, and the
mesh's dashboards and alert rules as the objects it loads.

Prometheus scrapes every sidecar with the same scrape job the local mesh uses
(``dashboards.prometheus.scrape``), loads the mesh's PrometheusRule, and Grafana provisions the
dashboards from labelled ConfigMaps. Names are fixed (``fullnameOverride``) so that the
port-forward commands in the stack outputs and docs/eks.md name real Services.
"""

from __future__ import annotations

import json

from components.eks import storage
from components.eks.alerting import alertmanager_values
from components.eks.objects import MONITORING_NAMESPACE, metadata
from components.eks.tempo import tempo_datasource
from components.settings.model import Settings
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.rules import rules_file
from dashboards.prometheus.scrape import kubernetes_scrape_job

CHART = "kube-prometheus-stack"
# Pinned: a chart upgrade changes Prometheus, Grafana and the operator's CRDs at once, so it
# is a reviewed change of this line, not something a `pulumi up` picks up by itself. 88.5.3 is
# the newest release whose sources could be read (prometheus-community/helm-charts, tag
# kube-prometheus-stack-88.5.3, commit ea930baeebeba39f56d6b44e351f23b2a072a600; its files are
# in ../shared/reference/, see its README.md); tests/unit/eks/test_monitoring_chart.py checks
# these values against them. ("93" is the Prometheus operator's version, not the chart's.)
CHART_VERSION = "88.5.3"
CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
RELEASE_NAME = "kps"
PROMETHEUS_SERVICE = f"{RELEASE_NAME}-prometheus"
PROMETHEUS_PORT = 9090
GRAFANA_SERVICE = f"{RELEASE_NAME}-grafana"
GRAFANA_PORT = 80
# Grafana's sidecar provisions every ConfigMap with this label (kube-prometheus-stack values);
# the folder annotation puts the mesh's dashboards in their own folder.
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"
DASHBOARD_FOLDER = "Mesh"


def _resources(cpu: str, memory: str, memory_limit: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def monitoring_values(settings: Settings) -> dict:
    """The values of the kube-prometheus-stack release for ``settings``' mesh (with
    ``tracing``, Grafana also gets the Tempo data source)."""
    values: dict = {
        "fullnameOverride": RELEASE_NAME,
        # EKS runs these control-plane parts out of reach of in-cluster scraping (and
        # kube-proxy binds its metrics to the node's loopback): their targets would only be
        # down and their default alerts would fire for ever.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": {
            "resources": _resources("50m", "64Mi", "256Mi"),
            # The config-reloader sidecar of Prometheus and Alertmanager: said here so that the
            # capacity check counts what the pods request (components/eks/capacity.py).
            "prometheusConfigReloader": {"resources": _resources("10m", "32Mi", "64Mi")},
        },
        "kube-state-metrics": {"resources": _resources("20m", "64Mi", "256Mi")},
        "prometheus-node-exporter": {"resources": _resources("20m", "32Mi", "128Mi")},
        "alertmanager": alertmanager_values(settings, _resources("20m", "32Mi", "128Mi")),
        "prometheus": {
            "prometheusSpec": {
                # The longest SLO window and a day (its rules read the raw counters over the
                # whole window), on an EBS volume sized for it (components/eks/storage.py) so
                # a node replacement keeps it. The size bound (Prometheus's units are powers
                # of two: GB is GiB) leaves a compaction room on the volume.
                "retention": f"{storage.retention_days(settings)}d",
                "retentionSize": f"{storage.prometheus_retention_size_gib(settings)}GB",
                # The operator's volumeClaimTemplate (chart values prometheus.prometheusSpec.
                # storageSpec): one gp3 claim, mounted where Prometheus keeps its TSDB.
                "storageSpec": storage.volume_claim_template(
                    storage.prometheus_volume_gib(settings)
                ),
                "resources": _resources("200m", "512Mi", "2Gi"),
                "additionalScrapeConfigs": [kubernetes_scrape_job(settings.kubernetes_namespace)],
                # Every PrometheusRule of the monitoring namespace: the chart's own (Watchdog,
                # Kube*, the recording rules its dashboards read) and the mesh's. With no
                # ruleSelector of ours and this false, the chart writes `ruleSelector: {}`
                # (templates/prometheus.yaml, select all) instead of `release: <release>`;
                # the namespace, which only the chart and this program write to, is the
                # boundary, so the mesh's rule needs no label tied to the release's name.
                "ruleSelectorNilUsesHelmValues": False,
                "ruleNamespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                },
            },
        },
        "grafana": {
            "fullnameOverride": GRAFANA_SERVICE,
            # Empty: the Grafana chart generates a random password into its Secret instead
            # of the well-known chart default (see the grafanaPassword stack output).
            "adminPassword": "",
            "resources": _resources("100m", "128Mi", "512Mi"),
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                    "provider": {"foldersFromFilesStructure": True},
                },
            },
        },
    }
    if settings.tracing:
        values["grafana"]["additionalDataSources"] = [tempo_datasource(settings)]
    return values


def grafana_port_forward() -> str:
    """The command that opens Grafana on http://localhost:3000."""
    return (
        f"kubectl --namespace {MONITORING_NAMESPACE} port-forward "
        f"svc/{GRAFANA_SERVICE} 3000:{GRAFANA_PORT}"
    )


def prometheus_port_forward() -> str:
    """The command that opens Prometheus on http://localhost:9090."""
    return (
        f"kubectl --namespace {MONITORING_NAMESPACE} port-forward "
        f"svc/{PROMETHEUS_SERVICE} {PROMETHEUS_PORT}:{PROMETHEUS_PORT}"
    )


def grafana_password_command() -> str:
    """The command that prints the generated Grafana ``admin`` password."""
    return (
        f"kubectl --namespace {MONITORING_NAMESPACE} get secret {GRAFANA_SERVICE} "
        "-o jsonpath='{.data.admin-password}' | base64 --decode"
    )


def dashboard_config_map(name: str, filename: str, dashboard: dict) -> dict:
    """A Grafana dashboard as a ConfigMap that Grafana's sidecar provisions (label
    ``grafana_dashboard: "1"``, in the monitoring namespace)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            name,
            MONITORING_NAMESPACE,
            {DASHBOARD_LABEL: "1"},
            {DASHBOARD_FOLDER_ANNOTATION: DASHBOARD_FOLDER},
        ),
        "data": {filename: json.dumps(dashboard, indent=2, sort_keys=True)},
    }


def dashboard_config_maps(settings: Settings) -> list[dict]:
    """One ConfigMap per dashboard, labelled for Grafana's dashboard sidecar."""
    return [
        dashboard_config_map(
            f"{settings.mesh_name}-dashboard-{filename.removesuffix('.json')}", filename, document
        )
        for filename, document in grafana_dashboards(settings).items()
    ]


def prometheus_rule(settings: Settings) -> dict:
    """The rule group as a PrometheusRule object in the monitoring namespace, where
    kube-prometheus-stack's Prometheus loads every rule (see ``monitoring_values``)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata(f"{settings.mesh_name}-mesh-alerts", MONITORING_NAMESPACE),
        "spec": rules_file(settings),
    }
