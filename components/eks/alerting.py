"""Where the mesh's alerts go on EKS (pure): kube-prometheus-stack's Alertmanager routes the
SLO alerts (``severity: page`` and ``ticket``) and the mesh's own ``critical`` alerts (a
service with no healthy host left, an upstream answering 5xx, no sidecar at all: what names the
service that is out when it sends nothing itself) to one receiver, a webhook when
``alertWebhookUrl`` is set. Every alert the game day counts as paging reaches it
(tests/consumers/eks/test_alerting_amtool.py routes each one with amtool).

The URL is a secret end to end, so the whole Alertmanager configuration lives in a Kubernetes
Secret of our own, never in the chart's values (Helm keeps those readable, ``helm get values``)
nor in a ConfigMap: ``alertmanagerSpec.useExistingSecret`` stops the chart writing its own
configuration Secret and ``configSecret`` names ours (kube-prometheus-stack 88.5.3 values.yaml;
templates/alertmanager/secret.yaml and alertmanager.yaml, prometheus-community/helm-charts
@006497b3acde). The Pulumi program fills it from the Pulumi secret; ``meshvis render`` writes
``WEBHOOK_PLACEHOLDER`` instead.

Without a webhook the SLO routes end at a receiver without integrations: the alerts are still
listed, grouped and inhibited in Alertmanager's UI and in Grafana's alert list (docs/slo.md).
"""

from __future__ import annotations

import json

from components.eks.objects import MONITORING_NAMESPACE, metadata
from components.eks.storage import ALERTMANAGER_VOLUME_GIB, volume_claim_template
from components.settings.model import Settings

SLO_RECEIVER = "slo"
NULL_RECEIVER = "null"
CONFIG_KEY = "alertmanager.yaml"  # the key the operator reads from configSecret
# What rendered files hold instead of the URL: a valid URL (so the rendered configuration passes
# `amtool check-config`) in the reserved .invalid domain (RFC 2606), which never resolves.
WEBHOOK_PLACEHOLDER = "https://alert-webhook.invalid/set-by-pulumi-up"
# How often an unresolved alert is sent again: a page (and a critical mesh alert) hourly, a
# ticket twice a day.
REPEAT_INTERVAL = {"page": "1h", "critical": "1h", "ticket": "12h"}
# Only the mesh's own alerts (they carry its `mesh` label) of a severity the chart's default
# rules use too: the cluster's critical alerts keep the chart's routing.
MESH_ONLY = {"critical": ['mesh =~ ".+"']}
# The chart's own inhibition rules (values.yaml alertmanager.config.inhibit_rules): Helm
# replaces a list value as a whole, so setting ours means restating them.
CHART_INHIBIT_RULES = (
    {
        "source_matchers": ["severity = critical"],
        "target_matchers": ["severity =~ warning|info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["severity = warning"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["alertname = InfoInhibitor"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace"],
    },
    {"target_matchers": ["alertname = InfoInhibitor"]},
)


def config_secret_name(settings: Settings) -> str:
    return f"{settings.mesh_name}-alertmanager"


def alertmanager_config(settings: Settings, webhook_url: str | None) -> dict:
    """The whole Alertmanager configuration: the chart's defaults (its Watchdog route, its
    inhibition rules), the SLO routes, the inhibition of a ticket by a page of the same service,
    and the SLO receiver (posting to ``webhook_url`` if any)."""
    slo_receiver: dict = {"name": SLO_RECEIVER}
    if webhook_url is not None:
        slo_receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                # The chart's own route: its always-firing Watchdog goes nowhere.
                {"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']},
                *(
                    {
                        "receiver": SLO_RECEIVER,
                        "matchers": [f'severity = "{severity}"', *MESH_ONLY.get(severity, [])],
                        # An upstream's alerts: one notification per upstream and caller.
                        "group_by": ["alertname", "mesh", "service", "slo", "envoy_cluster_name"],
                        "repeat_interval": repeat,
                    }
                    for severity, repeat in REPEAT_INTERVAL.items()
                ),
            ],
        },
        "inhibit_rules": [
            *CHART_INHIBIT_RULES,
            {
                "source_matchers": ['severity = "page"'],
                "target_matchers": ['severity = "ticket"'],
                "equal": ["mesh", "service"],
            },
        ],
        "receivers": [{"name": NULL_RECEIVER}, slo_receiver],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def alertmanager_config_text(settings: Settings, webhook_url: str | None) -> str:
    """The configuration as the file Alertmanager reads (JSON, a subset of YAML)."""
    return json.dumps(alertmanager_config(settings, webhook_url), indent=2)


def alertmanager_values(settings: Settings, resources: dict) -> dict:
    """The chart's ``alertmanager`` values: the pod's ``resources``, our Secret as its
    configuration, and a gp3 volume for its silences and notification log (on the pod's
    emptyDir they would go with every node roll: the operator mounts a claim from
    ``storage.volumeClaimTemplate`` instead, prometheus-operator Documentation/platform/
    storage.md)."""
    return {
        "alertmanagerSpec": {
            "resources": resources,
            "useExistingSecret": True,
            "configSecret": config_secret_name(settings),
            "storage": volume_claim_template(ALERTMANAGER_VOLUME_GIB),
        }
    }


def config_secret(settings: Settings, config_text: object) -> dict:
    """The Secret holding Alertmanager's configuration ``config_text``
    (``alertmanager_config_text``: the Pulumi program's is a secret Output of the real URL,
    a render's holds ``WEBHOOK_PLACEHOLDER``, components/eks/documents.py)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(config_secret_name(settings), MONITORING_NAMESPACE),
        "type": "Opaque",
        "stringData": {CONFIG_KEY: config_text},
    }
