"""Do the stack's pods fit on its nodes, with one node lost? (pure)

Sums the resource requests of every pod the stack puts on the node group: the mesh's
Deployments (app + Envoy sidecar), the monitoring charts' components as this program's Helm
values request them, Tempo, the EBS CSI driver and the add-ons EKS runs on every cluster, and
compares the sum with what ``nodeCount`` nodes of ``nodeInstanceType`` can allocate.

A node's allocatable is what the EKS AL2023 AMI's ``nodeadm`` leaves to pods (awslabs/amazon-
eks-ami nodeadm/internal/kubelet/config.go @81fec2e89585, ``withDefaultReservedResources``):
kube-reserved CPU of 6 % of the first core, 1 % of the second, 0.5 % of the next two and 0.25 %
of the rest (``getCPUMillicoresToReserve``); kube-reserved memory of 11 MiB per pod the node may
run plus 255 MiB (``getMemoryMebibytesToReserve``); and the eviction threshold
``memory.available: 100Mi``. The pods a node may run are ``ENIs x (IPv4 per ENI - 1) + 2``
(eni_max_pods.go ``calculateStandardMaxPods``; instance-info.jsonl, same commit). The memory
the kernel sees is less than the instance's published size; as Karpenter does for the same
estimate, 7.5 % is taken off first (aws/karpenter-provider-aws, settings reference,
``VM_MEMORY_OVERHEAD_PERCENT`` default 0.075). ``kubectl describe node`` shows the real figure.

The sum is a necessary condition (a pod also needs one node with room for all of it), which is
what the chart's own ``KubeCPUOvercommit`` / ``KubeMemoryOvercommit`` alerts test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from components.eks import tempo
from components.eks.monitoring import monitoring_values
from components.eks.objects import deployment
from components.settings.errors import ConfigError
from components.settings.model import Settings

# Published vCPUs and memory (GiB) per instance type (aws.amazon.com/ec2/instance-types), with
# the ENIs and IPv4 addresses per ENI that decide max pods (amazon-eks-ami instance-info.jsonl
# @81fec2e89585). A type missing here is not checked (a warning says so).
INSTANCES: dict[str, tuple[int, int, int, int]] = {
    # type: (vCPU, GiB, ENIs, IPv4 per ENI)
    **{f"{family}.medium": (2, 4, 3, 6) for family in ("t3", "t3a", "t4g")},
    **{f"{family}.large": (2, 8, 3, 12) for family in ("t3", "t3a", "t4g")},
    **{f"{family}.xlarge": (4, 16, 4, 15) for family in ("t3", "t3a", "t4g")},
    **{f"{family}.2xlarge": (8, 32, 4, 15) for family in ("t3", "t3a", "t4g")},
    **{f"{family}.medium": (1, 4, 2, 4) for family in ("m6g", "m7g")},
    **{f"{f}.large": (2, 8, 3, 10) for f in ("m5", "m6i", "m6g", "m7i", "m7g")},
    **{f"{f}.xlarge": (4, 16, 4, 15) for f in ("m5", "m6i", "m6g", "m7i", "m7g")},
    **{f"{f}.2xlarge": (8, 32, 4, 15) for f in ("m5", "m6i", "m6g", "m7i", "m7g")},
    "c7g.medium": (1, 2, 2, 4),
    **{f"{f}.large": (2, 4, 3, 10) for f in ("c6i", "c7g")},
    **{f"{f}.xlarge": (4, 8, 4, 15) for f in ("c6i", "c7g")},
    **{f"{f}.2xlarge": (8, 16, 4, 15) for f in ("c6i", "c7g")},
    "r6i.large": (2, 16, 3, 10),
    "r6i.xlarge": (4, 32, 4, 15),
    "r6i.2xlarge": (8, 64, 4, 15),
}
VM_MEMORY_OVERHEAD = 0.075
EVICTION_HARD_MEMORY_MIB = 100


@dataclass(frozen=True)
class Node:
    """What one node of an instance type leaves to pods."""

    cpu_m: int
    memory_mib: int
    pods: int


@dataclass(frozen=True)
class Pods:
    """Requests of a group of identical pods (``per_node``: a DaemonSet's, one per node)."""

    name: str
    count: int
    cpu_m: int
    memory_mib: int
    per_node: bool = False


def _reserved_cpu_m(total_m: int) -> int:
    ranges = ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, total_m, 25))
    return sum(
        (min(total_m, end) - start) * percent // 10000
        for start, end, percent in ranges
        if total_m > start
    )


def node(instance_type: str) -> Node | None:
    """The allocatable of one node of ``instance_type`` (None: not in ``INSTANCES``)."""
    if instance_type not in INSTANCES:
        return None
    vcpus, gib, enis, ips = INSTANCES[instance_type]
    max_pods = enis * (ips - 1) + 2
    kube_reserved_mib = 11 * max_pods + 255
    capacity_mib = math.floor(gib * 1024 * (1 - VM_MEMORY_OVERHEAD))
    return Node(
        cpu_m=vcpus * 1000 - _reserved_cpu_m(vcpus * 1000),
        memory_mib=capacity_mib - kube_reserved_mib - EVICTION_HARD_MEMORY_MIB,
        pods=max_pods,
    )


def cpu_m(quantity: str) -> int:
    """A Kubernetes CPU quantity (``50m``, ``1``, ``0.5``) in millicores."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return math.ceil(float(quantity) * 1000)


_BINARY = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}


def memory_mib(quantity: str) -> int:
    """A Kubernetes memory quantity in ``Ki``, ``Mi`` or ``Gi`` as MiB (rounded up)."""
    for suffix, factor in _BINARY.items():
        if quantity.endswith(suffix):
            return math.ceil(float(quantity[: -len(suffix)]) * factor)
    raise ValueError(f"memory quantity {quantity!r}: use Ki, Mi or Gi")


def _requests(resources: dict) -> tuple[int, int]:
    requests = resources.get("requests", {})
    return cpu_m(requests.get("cpu", "0")), memory_mib(requests.get("memory", "0Mi"))


# Pods this program does not configure, as their publishers request them:
# - CoreDNS, the EKS add-on's two replicas: 100m / 70Mi each (kubernetes/kubernetes
#   cluster/addons/dns/coredns/coredns.yaml.base, which the add-on keeps);
# - kube-proxy, one per node: 100m (the EKS add-on's DaemonSet);
# - aws-node (VPC CNI), one per node: its two containers, aws-node and aws-eks-nodeagent (the
#   network policy agent, which the cluster enables), at 25m each; the init container's 25m
#   does not add to them (aws/amazon-vpc-cni-k8s config/master/aws-k8s-cni.yaml lines 202,
#   299 and 341 @b52188387f2e);
# - the EBS CSI driver (kubernetes-sigs/aws-ebs-csi-driver charts/aws-ebs-csi-driver @429e202e589,
#   which the add-on is built from): two controller replicas of ebs-plugin, csi-provisioner,
#   csi-attacher and csi-resizer at 10m / 40Mi (controller.resources, the sidecars' default)
#   and liveness-probe at 10m / 32Mi (templates/controller.yaml; no snapshotter without the
#   snapshot CRDs); one node pod per node: ebs-plugin 10m / 40Mi (node.resources),
#   node-driver-registrar and liveness-probe 10m / 32Mi each (templates/_node.tpl).
SYSTEM_PODS = (
    Pods("coredns", 2, 100, 70),
    Pods("kube-proxy", 1, 100, 0, per_node=True),
    Pods("aws-node", 1, 2 * 25, 0, per_node=True),
    Pods("ebs-csi-controller", 2, 4 * 10 + 10, 4 * 40 + 32),
    Pods("ebs-csi-node", 1, 3 * 10, 40 + 2 * 32, per_node=True),
)


def _pod(name: str, count: int, *resources: dict, per_node: bool = False) -> Pods:
    pairs = [_requests(r) for r in resources]
    return Pods(name, count, sum(c for c, _ in pairs), sum(m for _, m in pairs), per_node)


def stack_pods(settings: Settings) -> list[Pods]:
    """Every pod group the stack runs on its nodes, with its requests."""
    pods = []
    for service in settings.services:
        spec = deployment(settings, service, "")["spec"]["template"]["spec"]
        # A native sidecar (init container with restartPolicy Always) runs beside the app:
        # the pod's request is their sum.
        containers = [*spec["initContainers"], *spec["containers"]]
        pods.append(
            _pod(f"{service.name} (mesh)", service.replicas, *(c["resources"] for c in containers))
        )
    values = monitoring_values(settings)
    reloader = values["prometheusOperator"]["prometheusConfigReloader"]["resources"]
    prometheus = values["prometheus"]["prometheusSpec"]
    pods += [
        _pod("prometheus-operator", 1, values["prometheusOperator"]["resources"]),
        _pod("kube-state-metrics", 1, values["kube-state-metrics"]["resources"]),
        _pod("alertmanager", 1, values["alertmanager"]["alertmanagerSpec"]["resources"], reloader),
        _pod("prometheus", 1, prometheus["resources"], reloader),
        # The Grafana chart's sidecars request nothing (grafana values.yaml `sidecar.resources:
        # {}`): only Grafana's own container counts.
        _pod("grafana", 1, values["grafana"]["resources"]),
        _pod("node-exporter", 1, values["prometheus-node-exporter"]["resources"], per_node=True),
    ]
    if settings.tracing:
        pods.append(_pod("tempo", 1, tempo.tempo_values()["tempo"]["resources"]))
    return [*pods, *SYSTEM_PODS]


@dataclass(frozen=True)
class Need:
    """What ``nodes`` nodes must hold, against what they can allocate."""

    nodes: int
    cpu_m: int
    memory_mib: int
    pods: int
    node: Node

    def shortfalls(self) -> list[str]:
        """The resources that do not fit, as ``"CPU 2105m > 1930m"``."""
        have = (
            ("CPU", self.cpu_m, self.nodes * self.node.cpu_m, "m"),
            ("memory", self.memory_mib, self.nodes * self.node.memory_mib, "Mi"),
            ("pods", self.pods, self.nodes * self.node.pods, ""),
        )
        return [
            f"{what} {need}{unit} > {can}{unit}" for what, need, can, unit in have if need > can
        ]


def need(settings: Settings, nodes: int, each: Node) -> Need:
    """The requests of every pod of the stack on ``nodes`` nodes (a DaemonSet's on each)."""
    groups = stack_pods(settings)
    per = [(p.count * (nodes if p.per_node else 1), p) for p in groups]
    return Need(
        nodes=nodes,
        cpu_m=sum(n * p.cpu_m for n, p in per),
        memory_mib=sum(n * p.memory_mib for n, p in per),
        pods=sum(n for n, _ in per),
        node=each,
    )


def _sized(settings: Settings) -> str:
    return f"{settings.node_count} x {settings.node_instance_type}"


def check_node_capacity(settings: Settings) -> None:
    """Raise ``ConfigError`` if the stack's pods do not fit on all its nodes: the first
    ``pulumi up`` would wait out the Helm timeout on Pending pods and fail."""
    each = node(settings.node_instance_type)
    if each is None:
        return
    short = need(settings, settings.node_count, each).shortfalls()
    if short:
        raise ConfigError(
            "nodeCount",
            f"the stack's pods request more than {_sized(settings)} can allocate "
            f"({', '.join(short)}): raise nodeCount or choose a larger nodeInstanceType "
            '(docs/eks.md "Sizing")',
        )


def capacity_warning(settings: Settings) -> str | None:
    """One line if the stack's pods do not fit on ``nodeCount - 1`` nodes, else None.

    A warning, not an error: the stack runs while every node is up. But with one node lost
    (a failure, or a node group update taking one down) pods stay Pending, and the chart's
    KubeCPUOvercommit / KubeMemoryOvercommit alerts fire for as long as the stack lives.
    """
    each = node(settings.node_instance_type)
    if each is None:
        return (
            f"mesh-visibility:nodeInstanceType: {settings.node_instance_type} is not in "
            "components/eks/capacity.py INSTANCES, so whether the pods fit is not checked"
        )
    short = need(settings, settings.node_count - 1, each).shortfalls()
    if not short:
        return None
    return (
        f"mesh-visibility:nodeCount: with one of {_sized(settings)} lost the pods do not fit "
        f"({', '.join(short)}): pods stay Pending and KubeCPUOvercommit/KubeMemoryOvercommit "
        'fire; add a node or choose a larger nodeInstanceType (docs/eks.md "Sizing")'
    )
