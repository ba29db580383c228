"""The kube-prometheus-stack release, checked against the pinned chart's own files.

``../shared/reference/kube-prometheus-stack-88.5.3/`` and ``grafana-chart-12.11.1/`` are the
chart and its Grafana subchart at the commits ``../shared/reference/README.md`` names. From
them: the pinned version exists, every value we set is a key of the chart (or of the Grafana
subchart) with a compatible type, the PrometheusRule passes the chart's CRD schema, and the
Prometheus resource, as ``templates/prometheus.yaml`` builds it from our values, loads both our
rule and the chart's own rules. The emulation of Helm and the operator is
``tests/support/helm_chart.py`` (its docstring cites each rule's source).
"""

from __future__ import annotations

import copy
import re
import warnings

import pytest

from components.eks.monitoring import (
    CHART,
    CHART_VERSION,
    RELEASE_NAME,
    monitoring_values,
    prometheus_rule,
)
from components.eks.objects import MONITORING_NAMESPACE
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from tests.conftest import REFERENCE, needs_reference
from tests.support.helm_chart import (
    COMMENTED,
    UNVERIFIABLE,
    chart_metadata,
    chart_rule_labels,
    chart_values,
    loads_rule,
    merged_values,
    prometheus_rule_selector,
    subchart_values,
    unknown_or_mistyped_keys,
    validate_prometheus_rule,
)
from tests.support.shop_graphs import shop_eks_config

KPS = REFERENCE / f"{CHART}-88.5.3"
GRAFANA = REFERENCE / "grafana-chart-12.11.1"
CRD = KPS / "crds" / "crd-prometheusrules.yaml"

pytestmark = needs_reference

SETTINGS = {"dev-eks": stack_settings("dev-eks"), "shop": settings_from_config(shop_eks_config())}

# Keys we set that the values files do not hold (or only show commented out) but the
# templates read, each with where it is read (grafana-community/helm-charts at
# 864f7794683680e5100a38670e103c4fa6e37e29, the grafana-12.11.1 tag).
TEMPLATE_READ_KEYS = {
    "grafana.fullnameOverride": "charts/grafana/templates/_helpers.tpl line 15: "
    "`.Values.fullnameOverride` names every Grafana object",
    "grafana.adminPassword": "charts/grafana/templates/_config.tpl lines 175-179: empty means "
    "`grafana.password`, a generated one",
    "alertmanager.alertmanagerSpec.configSecret": "templates/alertmanager/alertmanager.yaml "
    "(@006497b3acde): `configSecret` names the Secret the operator reads the configuration from "
    "(values.yaml:1044-1047 documents it, commented out)",
}


@pytest.fixture(params=sorted(SETTINGS))
def settings(request):
    return SETTINGS[request.param]


def _findings(values: dict) -> list:
    return unknown_or_mistyped_keys(values, chart_values(KPS), subchart_values(KPS, GRAFANA))


def test_the_pinned_version_is_the_chart_we_read():
    meta = chart_metadata(KPS)
    assert (meta["name"], str(meta["version"])) == (CHART, CHART_VERSION)
    # The Grafana values we check against are the ones this chart version pulls in.
    grafana = next(d for d in meta["dependencies"] if d["name"] == "grafana")
    assert str(grafana["version"]) == str(chart_metadata(GRAFANA)["version"])


def test_helm_installs_the_chart_on_our_kubernetes_version(settings):
    """Helm refuses a chart whose ``kubeVersion`` constraint the cluster does not meet."""
    constraint = str(chart_metadata(KPS)["kubeVersion"])
    lowest = re.fullmatch(r">=\s*(\d+)\.(\d+)\.\d+(-0)?", constraint)
    assert lowest, f"read {constraint!r} anew: only '>=X.Y.Z[-0]' is understood here"
    major, minor = (int(part) for part in settings.eks_version.split("."))
    assert (major, minor) >= (int(lowest[1]), int(lowest[2]))


def test_every_value_we_set_is_a_chart_key_of_a_compatible_type(settings):
    findings = _findings(monitoring_values(settings))
    errors = {f.path: repr(f) for f in findings if f.is_error or f.kind == COMMENTED}
    unexplained = {path: found for path, found in errors.items() if path not in TEMPLATE_READ_KEYS}
    assert not unexplained, unexplained
    # The allow-list stays true: each entry is still set by us and still not a values key.
    assert set(errors) == set(TEMPLATE_READ_KEYS)
    unverifiable = sorted(f.path for f in findings if f.kind == UNVERIFIABLE)
    missing = {key for key, values in subchart_values(KPS, GRAFANA).items() if values is None}
    assert {path.split(".")[0] for path in unverifiable} <= missing
    if unverifiable:
        warnings.warn(
            f"not checked, the subcharts' values are not in {REFERENCE}: {', '.join(unverifiable)}",
            stacklevel=1,
        )


@pytest.mark.parametrize(
    "path, value, kind",
    [
        (("prometheus", "prometheusSpec", "retentionSizee"), "3GB", "unknown"),
        (("prometheus", "prometheusSpec", "ruleSelectorNilUsesHelmValues"), "false", "mistyped"),
        (("grafana", "sidecar", "dashboards", "enabled"), "true", "mistyped"),
        (("grafana", "sidecar", "dashboards", "lable"), "grafana_dashboard", "unknown"),
    ],
)
def test_the_key_check_catches_a_misspelt_or_mistyped_value(path, value, kind):
    values = copy.deepcopy(monitoring_values(SETTINGS["dev-eks"]))
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    found = {f.path: f.kind for f in _findings(values)}
    assert found[".".join(path)] == kind


def test_the_prometheus_rule_passes_the_crd_schema(settings):
    assert validate_prometheus_rule(prometheus_rule(settings), CRD) == []
    broken = copy.deepcopy(prometheus_rule(settings))
    broken["spec"]["groups"][0]["rules"][0]["for"] = 60
    broken["spec"]["groups"][0]["interval"] = "one minute"
    errors = validate_prometheus_rule(broken, CRD)
    assert any(e.startswith("spec.groups[0].rules[0].for:") for e in errors), errors
    assert any(e.startswith("spec.groups[0].interval:") for e in errors), errors


def test_prometheus_loads_our_rule_and_the_charts_own_rules(settings):
    values = monitoring_values(settings)
    selectors = prometheus_rule_selector(values, RELEASE_NAME, KPS)
    assert loads_rule(selectors, prometheus_rule(settings), MONITORING_NAMESPACE)
    # The chart's own rules (Watchdog, Kube*, the recording rules of its dashboards) exist for
    # our values and live in the release's namespace, with the labels the chart gives them.
    merged = merged_values(chart_values(KPS), values)
    assert merged["defaultRules"]["create"] is True
    assert not merged.get("namespaceOverride")
    charts_rule = {
        "metadata": {
            "namespace": MONITORING_NAMESPACE,
            "labels": chart_rule_labels(values, RELEASE_NAME, KPS),
        }
    }
    assert loads_rule(selectors, charts_rule, MONITORING_NAMESPACE)
    # The namespace is the boundary: a rule anywhere else, the mesh's namespace included, is
    # not loaded.
    for namespace in (settings.kubernetes_namespace, "default"):
        elsewhere = copy.deepcopy(prometheus_rule(settings))
        elsewhere["metadata"]["namespace"] = namespace
        assert not loads_rule(selectors, elsewhere, MONITORING_NAMESPACE)
