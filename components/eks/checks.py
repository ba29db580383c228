"""Rules an ``eks`` stack must meet beyond its settings, checked before any resource exists."""

from __future__ import annotations

import ipaddress
import json
from datetime import date

from components.eks.objects import MONITORING_NAMESPACE, deployment
from components.settings.errors import ConfigError
from components.settings.model import Settings
from components.sidecar.demo_app import demo_app_source

# Namespaces the cluster or the monitoring stack own: the mesh cannot be created in them.
RESERVED_NAMESPACES = (
    MONITORING_NAMESPACE,
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
)


def check_kubernetes_namespace(settings: Settings) -> None:
    """Raise ``ConfigError`` if the mesh's namespace is one the cluster already has or the
    monitoring stack uses (creating it would fail, or mix the mesh into it), or has the
    ``kube-`` prefix Kubernetes reserves for its system namespaces."""
    namespace = settings.kubernetes_namespace
    if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
        raise ConfigError(
            "kubernetesNamespace",
            f"{namespace!r} is reserved ({', '.join(RESERVED_NAMESPACES)} and "
            "every kube-* name); choose another name",
        )


def check_api_access_cidrs(settings: Settings) -> None:
    """Raise ``ConfigError`` unless ``apiAccessCidrs`` is one or more IPv4 network addresses
    (``203.0.113.0/24``, host bits zero), what EKS's ``publicAccessCidrs`` takes
    (terraform-provider-aws internal/service/eks/cluster.go ``public_access_cidrs``:
    ``verify.ValidCIDRNetworkAddress``). None at all would leave ``pulumi up`` itself outside."""
    cidrs = settings.api_access_cidrs
    if not cidrs:
        raise ConfigError(
            "apiAccessCidrs",
            "empty: list at least the address `pulumi up` and kubectl run from "
            '(e.g. ["203.0.113.7/32"])',
        )
    for i, cidr in enumerate(cidrs):
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as err:
            raise ConfigError(
                f"apiAccessCidrs[{i}]", f"{cidr!r} is not an IPv4 network address ({err})"
            ) from None
        if network.version != 4:
            raise ConfigError(
                f"apiAccessCidrs[{i}]", f"{cidr!r} is IPv6; EKS takes IPv4 blocks here"
            )


# A service's env goes into its Deployment's pod template as written. One variable must fit
# Linux's limit on one exec string, MAX_ARG_STRLEN = PAGE_SIZE * 32 (include/uapi/linux/
# binfmts.h; 128 KiB with 4 KiB pages), else the container fails to start (E2BIG). The whole
# object must fit what the API server stores: one etcd value, at most etcd's request size
# (--max-request-bytes, 1.5 MiB by default); ConfigMaps and Secrets are held to
# MaxSecretSize = 1 MiB (kubernetes pkg/apis/core/types.go). The mesh keeps every object to 1 MiB.
MAX_ENV_STRING_BYTES = 32 * 4096
MAX_OBJECT_BYTES = 1024 * 1024


def check_env_sizes(settings: Settings) -> None:
    """Raise ``ConfigError`` for a service whose ``env`` a pod could not start with, or that
    makes its Deployment larger than a Kubernetes object may be."""
    source = demo_app_source()
    for i, service in enumerate(settings.services):
        for name, value in service.env.items():
            size = len(f"{name}={value}".encode()) + 1
            if size > MAX_ENV_STRING_BYTES:
                raise ConfigError(
                    f"services[{i}].env",
                    f"{name} of {service.name!r} is {size} "
                    f"bytes; Linux starts no process with an environment string "
                    f"over {MAX_ENV_STRING_BYTES} (MAX_ARG_STRLEN): keep large "
                    "values out of env (read them from a file or a secret)",
                )
        size = len(json.dumps(deployment(settings, service, source)).encode())
        if size > MAX_OBJECT_BYTES:
            raise ConfigError(
                f"services[{i}].env",
                f"the Deployment of {service.name!r} would be "
                f"{size} bytes, over the {MAX_OBJECT_BYTES} a Kubernetes object "
                "may hold here: keep large values out of env (read them from a "
                "file or a secret)",
            )


# End of EKS standard support per Kubernetes version, from the "Amazon EKS Kubernetes release
# calendar" (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html): 1.29-1.34 as
# awsdocs/amazon-eks-user-guide latest/ug/versioning/kubernetes-versions.adoc has them at
# 013856044148d6eeed4723027a45aa2180536bcb; 1.35 and 1.36 as endoflife-date/endoflife.date
# products/amazon-eks.md has them at de1074dab973a23a89d3e30dcebe45251bf5cf22 (2026-07-08),
# which scrapes that AWS page's table. `aws eks describe-cluster-versions` shows the same
# (endOfStandardSupportDate). A new version is added here when EKS releases it.
END_OF_STANDARD_SUPPORT = {
    "1.29": date(2025, 3, 23),
    "1.30": date(2025, 7, 23),
    "1.31": date(2025, 11, 26),
    "1.32": date(2026, 3, 23),
    "1.33": date(2026, 7, 29),
    "1.34": date(2026, 12, 2),
    "1.35": date(2027, 3, 27),
    "1.36": date(2027, 8, 2),
}
# Per cluster-hour (aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-
# versions-pricing): the extended support price is the total, not a surcharge.
STANDARD_SUPPORT_PER_HOUR = 0.10
EXTENDED_SUPPORT_PER_HOUR = 0.60
HOURS_PER_MONTH = 730


def check_eks_version(version: str, today: date) -> None:
    """Raise ``ConfigError`` unless ``version`` is in EKS standard support on ``today`` (UTC).

    AWS bills extended support "from the beginning of the day that the version reaches end of
    standard support, in UTC+0", so the end date itself is already past. A version missing
    from ``END_OF_STANDARD_SUPPORT`` is refused too: its price cannot be known here.
    """
    end = END_OF_STANDARD_SUPPORT.get(version)
    if end is None:
        raise ConfigError(
            "eksVersion",
            f"{version!r} has no known end of EKS standard support "
            f"(known: {', '.join(END_OF_STANDARD_SUPPORT)}); {_choice(version, today)}",
        )
    if end <= today:
        raise ConfigError(
            "eksVersion",
            f"{version} left EKS standard support on {end.isoformat()}: a cluster on it pays "
            f"extended support, ${EXTENDED_SUPPORT_PER_HOUR:.2f}/h instead of "
            f"${STANDARD_SUPPORT_PER_HOUR:.2f}/h (about "
            f"${EXTENDED_SUPPORT_PER_HOUR * HOURS_PER_MONTH:.0f} instead of "
            f"${STANDARD_SUPPORT_PER_HOUR * HOURS_PER_MONTH:.0f} a month); "
            f"{_choice(version, today)}",
        )


def _next_minor(version: str) -> str | None:
    major, _, minor = version.partition(".")
    return f"{major}.{int(minor) + 1}" if major.isdigit() and minor.isdigit() else None


def _choice(version: str, today: date) -> str:
    """What to choose instead of ``version``. EKS upgrades a cluster one minor version at a
    time (UpdateClusterVersion refuses a jump; Amazon EKS user guide, "Update existing cluster
    to new Kubernetes version"), so a deployed cluster on a known version goes to the next
    minor version; a new stack may start on any supported one."""
    supported = [v for v, end in END_OF_STANDARD_SUPPORT.items() if end > today]
    if not supported:
        return (
            "no version known here is still in standard support: add the current ones to "
            "END_OF_STANDARD_SUPPORT in components/eks/checks.py "
            "(`aws eks describe-cluster-versions`)"
        )
    choose = " or ".join(supported)
    following = _next_minor(version)
    if version in END_OF_STANDARD_SUPPORT and following in END_OF_STANDARD_SUPPORT:
        return (
            f"a deployed cluster upgrades one minor version at a time: set {following} next "
            f"(a new stack: choose {choose})"
        )
    return f"choose {choose}"
