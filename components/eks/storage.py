"""Persistent volumes of the EKS topology (pure): the gp3 StorageClass Prometheus and Tempo
claim their volumes from, the EBS CSI driver's service account, and what the volumes cost.

Prometheus and Tempo keep their data on EBS volumes, not on the node's disk or an emptyDir:
a node replaced by a ``nodeInstanceType`` or ``eksVersion`` change, a new AMI or a failure
takes its disk with it, and a pod rescheduled elsewhere starts empty. An EBS volume outlives
the node and is attached to wherever the pod runs next in the same availability zone.
"""

from __future__ import annotations

import math

from components.eks.objects import MONITORING_NAMESPACE, metadata
from components.settings.model import Settings
from dashboards.prometheus.scrape import SCRAPE_INTERVAL

# The EBS CSI driver's name (kubernetes-sigs/aws-ebs-csi-driver, CSIDriver `ebs.csi.aws.com`);
# EKS's own default `gp2` class uses the removed in-tree provisioner.
PROVISIONER = "ebs.csi.aws.com"
STORAGE_CLASS = "gp3"
# The add-on's controller runs as this service account; its IAM role is assumed through the
# cluster's OIDC provider (IRSA), as the driver's install guide describes
# (kubernetes-sigs/aws-ebs-csi-driver docs/install.md "Set up driver permissions").
EBS_CSI_ADDON = "aws-ebs-csi-driver"
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
# The driver's own policy since its V2: it may touch only volumes tagged
# `ebs.csi.aws.com/cluster: true`, a tag it puts on every volume it provisions
# (kubernetes-sigs/aws-ebs-csi-driver docs/install.md "Set up driver permissions" @429e202e).
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicyV2"
# Namespaces whose pods claim volumes (Prometheus, Alertmanager, Tempo): deleted before the
# driver and the StorageClass on `pulumi destroy` (topology.py).
CLAIM_NAMESPACES = (MONITORING_NAMESPACE,)

# Volume sizes (GiB). Tempo: 72 h of traces at the demo's rates are a few hundred MiB; 5 GiB is
# the bound the emptyDir had. Alertmanager: its silences and notification log, a few KiB to
# MiB; 1 GiB is the smallest volume EBS makes.
TEMPO_VOLUME_GIB = 5
ALERTMANAGER_VOLUME_GIB = 1

# Prometheus must keep the longest SLO window plus a day (its window rules read
# increase(...[windowDays]) of the raw counters), and at least the week it kept before SLOs.
MIN_RETENTION_DAYS = 7
# Its volume, from Prometheus's own sizing rule, needed_disk_space = retention_time_seconds x
# ingested_samples_per_second x bytes_per_sample, "1-2 bytes per sample" on average
# (prometheus/prometheus docs/storage.md, "Operational aspects"): the upper end is taken.
BYTES_PER_SAMPLE = 2
# Samples ingested: the chart's own targets (API server, kubelet and cAdvisor, node-exporter,
# kube-state-metrics, the monitoring components, CoreDNS) on a cluster of a few nodes, an
# estimate of 30,000 series, scraped at the operator's default 30 s (the chart's
# prometheusSpec.scrapeInterval is "", values.yaml line 4272); and each sidecar, at most 500
# series (the eks `essential` profile keeps 68 Envoy stats, the ingress request-time histogram
# has 29 series with the SLO buckets: docs/measurements.md), every SCRAPE_INTERVAL.
# docs/deploy-checklist.md has the query that measures both on the running stack.
CHART_SERIES = 30_000
CHART_SCRAPE_SECONDS = 30
SIDECAR_SERIES = 500
# A compaction writes its new block (at most a tenth of the retention: Prometheus's
# max-block-duration default) before it deletes the old ones; the WAL holds a few hours of
# samples besides the blocks.
COMPACTION_SHARE = 0.1
WAL_GIB = 1
# Volumes are sized in steps, so that a service more or less does not resize one.
VOLUME_STEP_GIB = 5
# gp3, per GB-month, us-east-1 and us-west-2 (aws.amazon.com/ebs/pricing/, 2026-12); the
# baseline 3,000 IOPS and 125 MiB/s are included.
GP3_PER_GB_MONTH = 0.08


def storage_class() -> dict:
    """The gp3 StorageClass: encrypted, expandable, and bound where the pod is scheduled
    (``WaitForFirstConsumer``: a volume is created in the zone of the pod's node, which an
    immediate binding could miss). ``Delete``: a volume lives as long as its claim, which
    outlives every node and pod (a StatefulSet never deletes its claims) and goes with the
    monitoring namespace when the stack is destroyed, so no orphaned volume keeps billing."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata(STORAGE_CLASS, None),
        "provisioner": PROVISIONER,
        "parameters": {"type": "gp3", "encrypted": "true"},
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def retention_days(settings: Settings) -> int:
    """Days of samples Prometheus keeps: the longest ``windowDays`` of any service's SLO plus
    one (a window-long rule evaluated at any time of day reads a full window), at least
    ``MIN_RETENTION_DAYS``."""
    windows = [
        slo.window_days
        for service in settings.app_services
        if (slo := settings.slo_for(service)) is not None
    ]
    return max([MIN_RETENTION_DAYS, *(w + 1 for w in windows)])


def samples_per_second(settings: Settings) -> float:
    """Samples Prometheus ingests a second (estimate, see ``CHART_SERIES``)."""
    sidecars = sum(service.replicas for service in settings.services)
    scrape_seconds = int(SCRAPE_INTERVAL.removesuffix("s"))
    return CHART_SERIES / CHART_SCRAPE_SECONDS + sidecars * SIDECAR_SERIES / scrape_seconds


def prometheus_data_gib(settings: Settings) -> float:
    """GiB of blocks that ``retention_days`` of samples take (estimate)."""
    seconds = retention_days(settings) * 86400
    return seconds * samples_per_second(settings) * BYTES_PER_SAMPLE / 2**30


def prometheus_volume_gib(settings: Settings) -> int:
    """The Prometheus volume: the data, room for a compaction and the WAL, in whole steps."""
    need = prometheus_data_gib(settings) * (1 + COMPACTION_SHARE) + WAL_GIB
    return math.ceil(need / VOLUME_STEP_GIB) * VOLUME_STEP_GIB


def prometheus_retention_size_gib(settings: Settings) -> int:
    """Prometheus's ``retentionSize`` (blocks and WAL): the volume less a compaction's room, so
    the size bound deletes the oldest block before a compaction could fill the volume. Above
    the estimate, so the time bound normally applies first."""
    compaction = math.ceil(prometheus_data_gib(settings) * COMPACTION_SHARE)
    return prometheus_volume_gib(settings) - max(compaction, 1)


def volume_gib(settings: Settings) -> int:
    """The GiB of EBS the stack claims."""
    return (
        prometheus_volume_gib(settings)
        + ALERTMANAGER_VOLUME_GIB
        + (TEMPO_VOLUME_GIB if settings.tracing else 0)
    )


def monthly_volume_cost(settings: Settings) -> float:
    """What the stack's volumes cost a month (gp3, baseline performance)."""
    return round(volume_gib(settings) * GP3_PER_GB_MONTH, 2)


def volume_claim_template(gib: int) -> dict:
    """A gp3 ``volumeClaimTemplate`` as the Prometheus operator takes it (``storageSpec`` of
    Prometheus, ``storage`` of Alertmanager)."""
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": STORAGE_CLASS,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{gib}Gi"}},
            }
        }
    }
