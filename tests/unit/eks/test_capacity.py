"""The stack's pods fit on its nodes with one node lost (components/eks/capacity.py): the
AMI's reservations give the allocatable the issue measured, the demo stacks fit, the old
dev-eks sizing is warned about in one line, and every request counted is the one the charts'
pods get (checked against the pinned charts' own values)."""

from __future__ import annotations

import copy

import pytest

from components.eks import capacity
from components.eks.capacity import Node, capacity_warning, check_node_capacity, node
from components.eks.monitoring import monitoring_values
from components.eks.tempo import tempo_values
from components.settings.errors import ConfigError
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.stack import stack_settings, stack_warnings
from meshvis.__main__ import main
from tests.conftest import REFERENCE, needs_reference
from tests.support.helm_chart import chart_values
from tests.support.shop_graphs import shop_eks_config


def test_allocatable_follows_the_eks_ami():
    """t3.medium: 2000m less 60m + 10m kube-reserved = 1930m (the issue's figure); 17 pods
    (3 ENIs x 5 + 2); 4 GiB less 7.5 %, less 11 x 17 + 255 MiB and the 100 MiB eviction."""
    assert node("t3.medium") == Node(cpu_m=1930, memory_mib=3788 - 442 - 100, pods=17)
    # 4 vCPU: 60 + 10 + 2 x 5 = 80m reserved; 4 ENIs x 14 + 2 = 58 pods.
    assert node("m6i.xlarge") == Node(cpu_m=3920, memory_mib=15155 - 893 - 100, pods=58)
    assert node("x9.huge") is None


def _old_dev_eks() -> dict:
    """dev-eks as the issue found it: two nodes, the services' default 256 units / 512 MiB."""
    config = copy.deepcopy(stack_config("dev-eks"))
    config["mesh-visibility:nodeCount"] = 2
    for service in config["mesh-visibility:services"]:
        service.pop("cpu", None)
        service.pop("memory", None)
    return config


@pytest.mark.parametrize(
    "settings", [stack_settings("dev-eks"), settings_from_config(shop_eks_config())]
)
def test_the_demo_stacks_fit_with_a_node_lost(settings):
    assert capacity_warning(settings) is None
    assert stack_warnings(settings) == []


def test_the_old_dev_eks_sizing_is_one_warning_line():
    settings = settings_from_config(_old_dev_eks())
    check_node_capacity(settings)  # fits while both nodes are up: it deploys
    [warning] = stack_warnings(settings)
    assert warning == (
        "mesh-visibility:nodeCount: with one of 2 x t3.medium lost the pods do not fit "
        "(CPU 2460m > 1930m, memory 4692Mi > 3246Mi, pods 19 > 17): pods stay Pending and "
        "KubeCPUOvercommit/KubeMemoryOvercommit fire; add a node or choose a larger "
        'nodeInstanceType (docs/eks.md "Sizing")'
    )


def test_render_prints_the_warning_and_still_renders(tmp_path, capsys):
    import yaml

    (tmp_path / "Pulumi.old.yaml").write_text(yaml.safe_dump({"config": _old_dev_eks()}))
    assert (
        main(["render", "--stack", "old", "--root", str(tmp_path), "--out", str(tmp_path / "out")])
        == 0
    )
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")
    ]
    assert len(warnings) == 1 and "with one of 2 x t3.medium lost" in warnings[0]


def test_pods_that_do_not_fit_even_on_every_node_stop_the_stack():
    config = _old_dev_eks()
    config["mesh-visibility:nodeCount"] = 1
    with pytest.raises(
        ConfigError,
        match=r"^mesh-visibility:nodeCount: the stack's pods request "
        r"more than 1 x t3.medium can allocate \(CPU 2460m > 1930m",
    ):
        check_node_capacity(settings_from_config(config))


def test_an_unknown_instance_type_is_said_not_checked():
    settings = settings_from_config(shop_eks_config(nodeInstanceType="x9.huge"))
    check_node_capacity(settings)
    assert "x9.huge is not in components/eks/capacity.py INSTANCES" in capacity_warning(settings)


def test_every_mesh_container_is_counted():
    settings = stack_settings("dev-eks")
    [nginx, load] = [p for p in capacity.stack_pods(settings) if p.name.endswith("(mesh)")]
    # 128 CPU units = 125m and 128 MiB for the app, 50m / 96 MiB for Envoy.
    assert (nginx.count, nginx.cpu_m, nginx.memory_mib) == (2, 175, 224)
    assert (load.count, load.cpu_m, load.memory_mib) == (3, 175, 224)


# Where each chart component counted takes its resources, in the chart's values (Grafana's
# in its own chart): the key must be the chart's, so the value we set is the one it uses.
KPS_PATHS = (
    ("prometheusOperator", "resources"),
    ("prometheusOperator", "prometheusConfigReloader", "resources"),
    ("alertmanager", "alertmanagerSpec", "resources"),
    ("prometheus", "prometheusSpec", "resources"),
)
SUBCHART_PATHS = (("kube-state-metrics", "resources"), ("prometheus-node-exporter", "resources"))


def _at(values: dict, path: tuple[str, ...]):
    for key in path:
        values = values[key]
    return values


@needs_reference
def test_the_counted_requests_are_the_charts_keys_and_ours_are_set():
    kps = chart_values(REFERENCE / "kube-prometheus-stack-88.5.3")
    ours = monitoring_values(stack_settings("dev-eks"))
    for path in KPS_PATHS:
        assert isinstance(_at(kps, path), dict), path
        assert _at(ours, path)["requests"], path
    for path in SUBCHART_PATHS:
        assert _at(ours, path)["requests"], path
    grafana = chart_values(REFERENCE / "grafana-chart-12.11.1")
    assert grafana["resources"] == {} and ours["grafana"]["resources"]["requests"]
    # Grafana's sidecars request nothing by default, so they add nothing to the sum.
    assert grafana["sidecar"]["resources"] == {}
    tempo = chart_values(REFERENCE / "tempo-chart-2.2.4")
    assert tempo["tempo"]["resources"] == {} and tempo_values()["tempo"]["resources"]["requests"]


def test_aws_node_counts_both_of_its_containers():
    """aws-node and the network policy agent (aws-eks-nodeagent) request 25m each
    (aws/amazon-vpc-cni-k8s config/master/aws-k8s-cni.yaml @b52188387f2e)."""
    [aws_node] = [p for p in capacity.SYSTEM_PODS if p.name == "aws-node"]
    assert (aws_node.cpu_m, aws_node.per_node) == (50, True)
