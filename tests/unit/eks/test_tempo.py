"""Tempo on EKS, checked against the pinned chart's own files and against the sidecars.

``../shared/reference/tempo-chart-2.2.4/`` is the chart at the commit
``../shared/reference/README.md`` names: the pinned version exists, every value we set is a key
of the chart with a compatible type, and after Helm's merge only the receiver the sidecars use
is left. The sidecars' collector address names the release's Service, the NetworkPolicy admits
exactly that traffic, and Grafana's data source points at Tempo's query port.
"""

from __future__ import annotations

from components.eks.monitoring import monitoring_values
from components.eks.objects import MONITORING_NAMESPACE, network_policy, service_labels
from components.eks.storage import TEMPO_VOLUME_GIB, storage_class
from components.eks.tempo import (
    CHART,
    CHART_VERSION,
    POD_LABELS,
    PROMETHEUS_DATASOURCE_UID,
    QUERY_PORT,
    tempo_datasource,
    tempo_network_policy,
    tempo_values,
)
from components.settings.ports import OTLP_HTTP_PORT
from components.sidecar.tracing import TEMPO_HOST, collector_address
from components.stack import stack_settings
from tests.conftest import REFERENCE, needs_reference
from tests.support.helm_chart import (
    chart_metadata,
    chart_values,
    merged_values,
    selects,
    unknown_or_mistyped_keys,
)

TEMPO = REFERENCE / f"{CHART}-chart-{CHART_VERSION}"
KPS = REFERENCE / "kube-prometheus-stack-88.5.3"


@needs_reference
def test_the_pinned_version_is_the_chart_we_read():
    meta = chart_metadata(TEMPO)
    assert (meta["name"], str(meta["version"])) == (CHART, CHART_VERSION)


@needs_reference
def test_every_value_we_set_is_a_chart_key_of_a_compatible_type():
    """Besides the values file's keys, one it shows only commented out: the statefulset
    template reads it (`storageClassName: {{ .Values.persistence.storageClassName }}`,
    charts/tempo/templates/statefulset.yaml at the tempo-2.2.4 tag, 7d2a00b35a27)."""
    findings = [repr(f) for f in unknown_or_mistyped_keys(tempo_values(), chart_values(TEMPO))]
    assert findings == [
        "persistence.storageClassName: commented (only in a comment at "
        "tempo-chart-2.2.4/values.yaml:377)"
    ]


@needs_reference
def test_the_sidecars_receiver_listens_where_they_send():
    merged = merged_values(chart_values(TEMPO), tempo_values())
    assert merged["tempo"]["receivers"]["otlp"]["protocols"]["http"] == {
        "endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"
    }
    # No null anywhere: Pulumi leaves nulls out of a release's values, so none could act.
    assert "None" not in repr(tempo_values())
    # Grafana queries the port the chart's server listens on.
    assert merged["tempo"]["server"]["http_listen_port"] == QUERY_PORT
    assert tempo_datasource(stack_settings("dev-eks"))["url"].endswith(f":{QUERY_PORT}")


@needs_reference
def test_grafana_gets_tempo_linked_to_the_prometheus_data_source():
    settings = stack_settings("dev-eks")
    grafana = chart_values(KPS)["grafana"]
    assert grafana["additionalDataSources"] == []  # the key exists, empty by default
    assert grafana["sidecar"]["datasources"]["uid"] == PROMETHEUS_DATASOURCE_UID
    [tempo] = monitoring_values(settings)["grafana"]["additionalDataSources"]
    assert tempo["type"] == "tempo"
    links = tempo["jsonData"]["tracesToMetrics"]
    assert links["datasourceUid"] == PROMETHEUS_DATASOURCE_UID
    # Span attributes mesh/service become the metrics' labels mesh/service in every query.
    assert {t["key"]: t["value"] for t in links["tags"]} == {"mesh": "mesh", "service": "service"}
    assert all("{$__tags," in q["query"] for q in links["queries"])
    off = settings.model_copy(update={"tracing": False})
    assert "additionalDataSources" not in monitoring_values(off)["grafana"]


def test_sidecars_send_to_the_release_service():
    settings = stack_settings("dev-eks")
    host, port = collector_address(settings)
    assert (
        host
        == TEMPO_HOST
        == f"{tempo_values()['fullnameOverride']}.{MONITORING_NAMESPACE}.svc.cluster.local."
    )
    assert port == OTLP_HTTP_PORT


def test_network_policy_admits_exactly_the_spans_and_grafana():
    settings = stack_settings("dev-eks")
    policy = tempo_network_policy(settings)
    assert policy["metadata"]["namespace"] == MONITORING_NAMESPACE
    assert selects(policy["spec"]["podSelector"], POD_LABELS)
    spans, queries = policy["spec"]["ingress"]
    [mesh_pods] = spans["from"]
    for service in settings.services:
        assert selects(mesh_pods["podSelector"], service_labels(settings, service))
    assert mesh_pods["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": settings.kubernetes_namespace
    }
    assert spans["ports"] == [{"protocol": "TCP", "port": OTLP_HTTP_PORT}]
    assert queries["ports"] == [{"protocol": "TCP", "port": QUERY_PORT}]
    # The mesh's own policy restricts ingress only: the sidecars may send to Tempo.
    assert network_policy(settings)["spec"]["policyTypes"] == ["Ingress"]


@needs_reference
def test_tempo_keeps_its_heap_under_its_limit_and_its_data_across_nodes():
    """The chart's defaults would run a 1 GiB ballast in a 1 GiB container and keep the WAL in
    the container's writable layer; ours turn the ballast off, set a Go memory limit under the
    container's, and put the chart's own paths on a persistent volume."""
    chart = chart_values(TEMPO)
    assert chart["tempo"]["memBallastSizeMbs"] == 1024
    merged = merged_values(chart, tempo_values())
    tempo = merged["tempo"]
    assert tempo["memBallastSizeMbs"] == 0
    limit = tempo["resources"]["limits"]["memory"]
    assert limit == "1Gi"
    [env] = [e for e in tempo["extraEnv"] if e["name"] == "GOMEMLIMIT"]
    assert env["value"].endswith("MiB") and int(env["value"][:-3]) < 1024
    # The chart mounts its volumeClaimTemplate at /var/tempo (templates/statefulset.yaml at
    # the tempo-2.2.4 tag) when persistence is on: a gp3 EBS claim, which outlives the node.
    assert chart["persistence"]["enabled"] is False
    persistence = merged["persistence"]
    assert persistence["enabled"] is True and persistence["accessModes"] == ["ReadWriteOnce"]
    assert persistence["storageClassName"] == storage_class()["metadata"]["name"]
    assert persistence["size"] == f"{TEMPO_VOLUME_GIB}Gi"
    trace = tempo["storage"]["trace"]
    for path in (trace["local"]["path"], trace["wal"]["path"]):
        assert path.startswith("/var/tempo/")
    assert not merged.get("extraVolumes") and not tempo.get("extraVolumeMounts")
