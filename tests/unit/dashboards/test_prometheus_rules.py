"""The PrometheusRule object and the scrape job of the EKS topology: where the chart's Prometheus
looks for them (promtool checks and runs their content: tests/consumers/dashboards/
test_prometheus_rules.py)."""

from __future__ import annotations

import pytest

from components.eks.monitoring import monitoring_values, prometheus_rule
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from dashboards.prometheus import rules
from dashboards.prometheus.scrape import kubernetes_scrape_job
from tests.support.shop_graphs import shop_eks_config

SETTINGS = {"dev-eks": stack_settings("dev-eks"), "shop": settings_from_config(shop_eks_config())}


@pytest.fixture(params=sorted(SETTINGS))
def settings(request):
    return SETTINGS[request.param]


def test_prometheus_rule_object_carries_the_same_group_where_prometheus_looks(settings):
    rule = prometheus_rule(settings)
    assert rule["spec"] == rules.rules_file(settings)
    assert [r["alert"] for r in rule["spec"]["groups"][0]["rules"]] == list(rules.ALERTS)
    # That the chart's Prometheus selects this object (and the chart's own rules):
    # tests/unit/eks/test_monitoring_chart.py, from the chart's template.
    spec = monitoring_values(settings)["prometheus"]["prometheusSpec"]
    assert spec["ruleNamespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": rule["metadata"]["namespace"]
    }


# --- the scrape job -----------------------------------------------------------------------


def test_kubernetes_scrape_job_shape():
    job = kubernetes_scrape_job("shop-mesh")
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["shop-mesh"]}}]
    assert job["honor_labels"] is True
    assert job["metrics_path"] == "/stats/prometheus"
    values = monitoring_values(SETTINGS["shop"])
    assert values["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"] == [job]
