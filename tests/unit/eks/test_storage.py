"""Prometheus keeps what its SLO rules read, on a volume sized for it
(components/eks/storage.py): retention covers the longest range any rule reads, the volume
holds the estimated data with room for a compaction and the WAL, Alertmanager has its own."""

from __future__ import annotations

import re

import pytest

from components.eks import storage
from components.eks.monitoring import monitoring_values
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from dashboards.prometheus.rules import rules_file

_UNIT_DAYS = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7}


def _longest_range_days(rules: dict) -> float:
    ranges = [
        int(amount) * _UNIT_DAYS[unit]
        for group in rules["groups"]
        for rule in group["rules"]
        for amount, unit in re.findall(r"\[(\d+)([smhdw])\]", rule["expr"])
    ]
    return max(ranges)


def _settings(window_days: int | None = None):
    config = stack_config("dev-eks")
    if window_days is not None:
        config["mesh-visibility:slo"] = {"windowDays": window_days}
    return settings_from_config(config)


@pytest.mark.parametrize("window_days", [None, 1, 7, 90])
def test_prometheus_keeps_a_day_more_than_the_longest_range_any_rule_reads(window_days):
    settings = _settings(window_days)
    spec = monitoring_values(settings)["prometheus"]["prometheusSpec"]
    retention = int(spec["retention"].removesuffix("d"))
    assert retention >= _longest_range_days(rules_file(settings)) + 1
    assert retention == max(storage.MIN_RETENTION_DAYS, (window_days or 28) + 1)


def test_a_per_service_window_longer_than_the_mesh_wide_one_sets_the_retention():
    config = stack_config("dev-eks")
    config["mesh-visibility:services"][0]["slo"] = {"windowDays": 60}
    assert storage.retention_days(settings_from_config(config)) == 61


def test_the_dev_eks_figures():
    """29 days; 30,000 chart series / 30 s + 5 sidecars x 500 / 5 s = 1,500 samples/s; x 2 B
    x 29 days = 7.0 GiB; + 10 % and 1 GiB of WAL, in 5 GiB steps: 10 GiB, bounded at 9 GB."""
    settings = stack_settings("dev-eks")
    assert storage.retention_days(settings) == 29
    assert storage.samples_per_second(settings) == 1500
    assert round(storage.prometheus_data_gib(settings), 1) == 7.0
    assert storage.prometheus_volume_gib(settings) == 10
    assert storage.prometheus_retention_size_gib(settings) == 9
    # Prometheus 10 + Alertmanager 1 + Tempo 5 GiB of gp3 at $0.08.
    assert storage.volume_gib(settings) == 16
    assert storage.monthly_volume_cost(settings) == 1.28


@pytest.mark.parametrize("window_days", [None, 1, 90])
def test_the_volume_holds_the_data_a_compaction_and_the_wal(window_days):
    settings = _settings(window_days)
    data = storage.prometheus_data_gib(settings)
    volume = storage.prometheus_volume_gib(settings)
    bound = storage.prometheus_retention_size_gib(settings)
    assert volume >= data * (1 + storage.COMPACTION_SHARE) + storage.WAL_GIB
    # The size bound stays above the estimate (the time bound applies first) and leaves a
    # compaction's new block room on the volume.
    assert data + storage.WAL_GIB <= bound <= volume - data * storage.COMPACTION_SHARE
    spec = monitoring_values(settings)["prometheus"]["prometheusSpec"]
    assert spec["retentionSize"] == f"{bound}GB"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == f"{volume}Gi"


def test_alertmanager_keeps_silences_on_a_priced_gp3_volume():
    settings = stack_settings("dev-eks")
    spec = monitoring_values(settings)["alertmanager"]["alertmanagerSpec"]
    claim = spec["storage"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == storage.STORAGE_CLASS
    assert claim["resources"]["requests"]["storage"] == f"{storage.ALERTMANAGER_VOLUME_GIB}Gi"
    without = settings_from_config({**stack_config("dev-eks"), "mesh-visibility:tracing": False})
    assert storage.volume_gib(without) == (
        storage.prometheus_volume_gib(without) + storage.ALERTMANAGER_VOLUME_GIB
    )
