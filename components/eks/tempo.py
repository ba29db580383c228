"""Traces on the EKS topology (pure): Grafana Tempo's Helm values, its Grafana data source and
the NetworkPolicy that admits exactly the traffic it needs.

Every sidecar's OpenTelemetry tracer sends OTLP/HTTP to Tempo's Service
(components/sidecar/tracing.py ``TEMPO_HOST``); Grafana (kube-prometheus-stack) reads Tempo
through the data source below, with links from a span to its service's Envoy metrics.
"""

from __future__ import annotations

from components.eks.objects import MONITORING_NAMESPACE, metadata
from components.eks.storage import STORAGE_CLASS, TEMPO_VOLUME_GIB
from components.settings.model import Settings
from components.settings.ports import OTLP_HTTP_PORT
from components.sidecar.tracing import TEMPO_NAME, TEMPO_NAMESPACE
from dashboards.prometheus import promql

CHART = "tempo"
# Pinned like kube-prometheus-stack: grafana-community/helm-charts, tag tempo-2.2.4 (commit
# 7d2a00b35a277517aca7f815f7c84220e5dacf1e; Tempo 2.10.8); its Chart.yaml and values.yaml are
# in ../shared/reference/tempo-chart-2.2.4/, and tests/unit/eks/test_tempo.py checks these
# values against them.
CHART_VERSION = "2.2.4"
CHART_REPOSITORY = "https://grafana-community.github.io/helm-charts"
RELEASE_NAME = TEMPO_NAME
# Tempo's HTTP API (queries from Grafana), the chart's `tempo.server.http_listen_port`.
QUERY_PORT = 3200
# The chart's selector labels (`tempo.selectorLabels`, templates/_helpers.tpl at
# grafana-community/helm-charts@9ae015c8): the chart's name and the release's.
POD_LABELS = {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": RELEASE_NAME}
# kube-prometheus-stack's own Prometheus data source uid (values.yaml
# grafana.sidecar.datasources.uid), the target of the trace-to-metrics links.
PROMETHEUS_DATASOURCE_UID = "prometheus"
DATASOURCE_UID = "tempo"
RETENTION = "72h"
NETWORK_POLICY = "tempo-otlp-and-queries"


# The release's input paths whose change replaces it (topology.py, delete-first): every
# `persistence` value renders into the StatefulSet's volumeClaimTemplates or its claim
# retention (templates/statefulset.yaml lines 17-21 and 197-213 @7d2a00b35a27), and an update
# of volumeClaimTemplates is forbidden, so `helm upgrade` would fail. The engine matches these
# against the provider's detailed diff (pulumi/pulumi pkg/resource/deploy/step_generator.go
# applyReplaceOnChanges @1b594989), which names a block added whole by its own path
# (`values.persistence` when the deployed values had none): a deeper path such as
# `values.persistence.enabled` would miss that upgrade.
REPLACE_ON_CHANGES = ("values.persistence",)

# Just under the container's 1 GiB memory limit.
TEMPO_GOMEMLIMIT = "900MiB"


def tempo_values() -> dict:
    """The values of the Tempo release: OTLP/HTTP where the sidecars send, a few days of
    traces on an EBS volume (kept across restarts, node replacements and rescheduling), a Go
    memory limit under the container's, no usage report to Grafana Labs."""
    return {
        # The fixed name the sidecars' collector cluster resolves.
        "fullnameOverride": TEMPO_NAME,
        "tempo": {
            "reportingEnabled": False,
            "retention": RETENTION,
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"memory": "1Gi"},
            },
            # The chart's other default receivers (Jaeger's four, OTLP gRPC) stay: Helm drops a
            # default only for a null value, and Pulumi leaves nulls out of a release's values.
            # The NetworkPolicy admits nothing to their ports.
            "receivers": {
                "otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"}}}
            },
            # The chart's default 1 GiB ballast (values.yaml `memBallastSizeMbs`, passed as
            # -mem-ballast-size-mbs by its statefulset.yaml) puts Go's collection target near
            # 2 GiB, over the 1 GiB limit; a soft memory limit keeps the heap under it instead.
            "memBallastSizeMbs": 0,
            "extraEnv": [{"name": "GOMEMLIMIT", "value": TEMPO_GOMEMLIMIT}],
        },
        # The chart's volumeClaimTemplate `storage`, mounted at /var/tempo where the WAL and
        # blocks live (templates/statefulset.yaml at the tempo-2.2.4 tag, 7d2a00b35a27).
        # Changing any of it replaces the release (REPLACE_ON_CHANGES).
        "persistence": {
            "enabled": True,
            # The StatefulSet's persistentVolumeClaimRetentionPolicy `Delete` (lines 17-21):
            # the claim, and with the StorageClass's `Delete` its EBS volume, goes with the
            # StatefulSet, so turning tracing off or replacing the release leaves no volume.
            "enableStatefulSetAutoDeletePVC": True,
            "storageClassName": STORAGE_CLASS,
            "size": f"{TEMPO_VOLUME_GIB}Gi",
        },
    }


def tempo_datasource(settings: Settings) -> dict:
    """Tempo as a Grafana data source (kube-prometheus-stack ``grafana.additionalDataSources``):
    search, the node graph, and from any span its service's request rate and 5xx share in
    Prometheus (the span's resource attributes ``mesh`` and ``service`` are the stats' labels).
    No trace-to-logs link: the cluster has no log data source (sidecar logs stay in
    ``kubectl logs``)."""
    mesh = settings.mesh_name
    tags = [{"key": "mesh", "value": "mesh"}, {"key": "service", "value": "service"}]
    return {
        "name": "Tempo",
        "uid": DATASOURCE_UID,
        "type": "tempo",
        "access": "proxy",
        "url": f"http://{TEMPO_NAME}.{TEMPO_NAMESPACE}:{QUERY_PORT}",
        "editable": False,
        "jsonData": {
            "nodeGraph": {"enabled": True},
            "search": {"hide": False},
            "tracesToMetrics": {
                "datasourceUid": PROMETHEUS_DATASOURCE_UID,
                "spanStartTimeShift": "-5m",
                "spanEndTimeShift": "5m",
                "tags": tags,
                "queries": [
                    {
                        "name": "Request rate",
                        "query": promql.request_rate(mesh).replace(f'mesh="{mesh}"', "$__tags"),
                    },
                    {
                        "name": "5xx share",
                        "query": promql.error_ratio(mesh).replace(f'mesh="{mesh}"', "$__tags"),
                    },
                ],
            },
        },
    }


def tempo_network_policy(settings: Settings) -> dict:
    """What may reach Tempo: the mesh's pods on OTLP/HTTP (their sidecars' spans) and the
    monitoring namespace (Grafana) on the query port; nothing else. The mesh's own policy
    restricts only ingress, so the sidecars may send."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(NETWORK_POLICY, MONITORING_NAMESPACE),
        "spec": {
            "podSelector": {"matchLabels": dict(POD_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": settings.kubernetes_namespace
                                }
                            },
                            "podSelector": {"matchLabels": {"mesh": settings.mesh_name}},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": OTLP_HTTP_PORT}],
                },
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": QUERY_PORT}],
                },
            ],
        },
    }
