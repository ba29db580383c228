"""The documents an ``ecs`` stack shares among its services (components/ecs/documents.py says
what a document is): the cluster, the mesh's firewall, the load balancer, the dashboard, the
alarms, the Logs Insights queries and the alert topic."""

from __future__ import annotations

import json
import re

from components.ecs.containers import (
    FARGATE_CAPACITY_PROVIDERS,
)
from components.ecs.documents import (
    Document,
    MeshReferences,
    log_group,
    mesh_tags,
    port_rule,
    security_group,
)
from components.settings.model import Settings
from components.settings.naming import (
    cluster_name,
    container_insights_log_group,
)
from components.settings.ports import INGRESS_PORT, METRICS_PORT
from components.sidecar.names import LB_HEALTH_PATH
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.console import dashboard_name
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import alert_topic_policy, composite_alarm_specs, slo_alarm_specs

HTTP_PORT = 80


HTTPS_PORT = 443


ANYWHERE = "0.0.0.0/0"


# Envoy drains a deregistered task's requests well within this; the default (300 s) only
# slows every deployment down.
DEREGISTRATION_DELAY = 30


# TLS 1.3 and 1.2 with forward-secret AEAD ciphers only, and post-quantum key exchange: the
# policy the console now picks (an API caller would otherwise get ELBSecurityPolicy-2016-08,
# which still accepts TLS 1.0).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"


def mesh_documents(settings: Settings, refs: MeshReferences, prefix: str) -> list[Document]:
    """Every shared document of the mesh, in the order they are registered: the cluster (after
    its Container Insights log group, with ``containerInsights``) and its capacity providers,
    the Cloud Map namespaces, the tasks' firewall, the load balancer (with an entry service),
    the dashboard, the alarms, the Logs Insights query definitions, the alert topic and the
    SLO composites. ``prefix`` is the component's name, which the resources' names and
    ``Name`` tags start with."""
    tags = mesh_tags(settings)
    documents = _cluster(settings, tags)
    documents.append(
        Document(
            "capacity-providers",
            "capacity",
            {
                "cluster_name": refs.cluster_name,
                "capacity_providers": list(FARGATE_CAPACITY_PROVIDERS),
            },
        )
    )
    documents += [
        Document(
            "private-dns-namespace",
            f"dns-{namespace}",
            {
                "name": namespace,
                "vpc": refs.vpc_id,
                "description": f"Service discovery of the {settings.mesh_name} mesh",
                "tags": tags,
            },
        )
        for namespace in (settings.dns_namespace, settings.previous_dns_namespace)
        if namespace
    ]
    documents += _mesh_firewall(settings, refs, tags, prefix)
    if settings.entry_service:
        documents += _load_balancer(settings, refs, tags, prefix)
    suffixes = (
        (refs.load_balancer_arn_suffix, refs.target_group_arn_suffix)
        if settings.entry_service
        else (None, None)
    )
    documents.append(
        Document(
            "dashboard",
            "dashboard",
            {
                "dashboard_name": dashboard_name(settings),
                "dashboard_body": json.dumps(dashboard_body(settings, *suffixes)),
            },
        )
    )
    alarms = [(spec.pop("name"), spec) for spec in map(dict, alarm_specs(settings, refs.topic_arn))]
    alarms += [(spec.pop("resource_name"), spec) for spec in map(dict, slo_alarm_specs(settings))]
    documents += [
        Document("metric-alarm", suffix, {**spec, "tags": {**tags, **spec["tags"]}})
        for suffix, spec in alarms
    ]
    documents += [
        Document(
            "query-definition",
            f"query-{_slug(query['name'])}",
            {key: query[key] for key in ("name", "query_string", "log_group_names")},
        )
        for query in query_definitions(settings)
    ]
    documents.append(Document("topic", "alerts", {"tags": tags}))
    documents.append(
        Document(
            "topic-policy",
            "alerts-policy",
            {"arn": refs.topic_arn, "policy": json.dumps(alert_topic_policy(refs.topic_arn))},
        )
    )
    if settings.alert_email:
        subscription = {
            "topic": refs.topic_arn,
            "protocol": "email",
            "endpoint": settings.alert_email,
        }
        documents.append(Document("topic-subscription", "alerts-email", subscription))
    composites = [
        (spec.pop("resource_name"), spec)
        for spec in map(dict, composite_alarm_specs(settings, refs.topic_arn))
    ]
    documents += [
        Document("composite-alarm", suffix, {**spec, "tags": {**tags, **spec["tags"]}})
        for suffix, spec in composites
    ]
    return documents


def _mesh_firewall(
    settings: Settings, refs: MeshReferences, tags: dict[str, str], prefix: str
) -> list[Document]:
    """The security group of every task, out to other tasks' Envoy ports and to 443 only, and
    its rules."""
    group = security_group(
        "mesh-sg", f"Every task of the {settings.mesh_name} mesh", refs.vpc_id, tags, prefix
    )
    group_id = refs.mesh_security_group_id
    rules = [
        port_rule(
            "egress-rule",
            f"mesh-to-{label}",
            group_id,
            port,
            f"Envoy {port} of other mesh tasks",
            peer_group_id=group_id,
        )
        for label, port in (("ingress", INGRESS_PORT), ("metrics", METRICS_PORT))
    ]
    https = port_rule(
        "egress-rule",
        "mesh-to-https",
        group_id,
        HTTPS_PORT,
        "Image pulls and AWS APIs (CloudWatch, Logs) through the NAT gateway",
        cidr=ANYWHERE,
    )
    return [group, *rules, https]


def _cluster(settings: Settings, tags: dict[str, str]) -> list[Document]:
    """The mesh's cluster; with ``containerInsights``, first its performance log group.

    ECS would create that log group itself, with no retention, and ``pulumi destroy`` would
    leave it behind; created by the stack first it keeps the stack's retention and goes with
    the stack.
    """
    name = cluster_name(settings.mesh_name)
    documents = []
    if settings.container_insights:
        group = container_insights_log_group(name)
        documents.append(log_group("insights-logs", group, settings, tags))
    insights = "enabled" if settings.container_insights else "disabled"
    cluster = {
        "name": name,
        "settings": [{"name": "containerInsights", "value": insights}],
        "tags": tags,
    }
    return [*documents, Document("ecs-cluster", "cluster", cluster)]


def _load_balancer(
    settings: Settings, refs: MeshReferences, tags: dict[str, str], prefix: str
) -> list[Document]:
    """The public load balancer in front of the entry service: its security group (the
    internet reaches port 80, and 443 with a ``certificateArn``), itself, the entry service's
    target group and the listeners: HTTP forwarding to it, or with a ``certificateArn`` HTTPS
    forwarding and HTTP redirecting to HTTPS."""
    group = security_group(
        "alb-sg", f"Load balancer of the {settings.mesh_name} mesh", refs.vpc_id, tags, prefix
    )
    public_ports = [("internet", HTTP_PORT, "HTTP")]
    if settings.certificate_arn is not None:
        public_ports.append(("internet-https", HTTPS_PORT, "HTTPS"))
    rules = [
        port_rule(
            "ingress-rule",
            f"alb-from-{label}",
            refs.load_balancer_security_group_id,
            port,
            f"{protocol} from the internet",
            cidr=ANYWHERE,
        )
        for label, port, protocol in public_ports
    ]
    load_balancer = Document(
        "load-balancer",
        "alb",
        {
            "load_balancer_type": "application",
            "internal": False,
            "security_groups": [refs.load_balancer_security_group_id],
            "subnets": refs.public_subnet_ids,
            "drop_invalid_header_fields": True,
            "tags": tags,
        },
    )
    target_group = Document(
        "target-group",
        "tg",
        {
            "port": INGRESS_PORT,
            "protocol": "HTTP",
            "target_type": "ip",
            "vpc_id": refs.vpc_id,
            "deregistration_delay": DEREGISTRATION_DELAY,
            # Through Envoy to the app: a target is healthy only when both are. Always the one
            # path the entry's sidecar routes to its `healthPath`, so a changed `healthPath`
            # never updates the target group (in place, at the start of the update, before
            # any task serving the new path exists): it rolls out with the entry's tasks.
            "health_check": {
                "path": LB_HEALTH_PATH,
                "port": "traffic-port",
                "protocol": "HTTP",
                "matcher": "200-399",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            "tags": tags,
        },
    )
    forward = [{"type": "forward", "target_group_arn": refs.target_group_arn}]
    listener = {"load_balancer_arn": refs.load_balancer_arn}
    if settings.certificate_arn is None:
        http = {**listener, "port": HTTP_PORT, "protocol": "HTTP", "default_actions": forward}
        listeners = [Document("listener", "http", {**http, "tags": tags})]
        return [group, *rules, load_balancer, target_group, *listeners]
    https = {
        **listener,
        "port": HTTPS_PORT,
        "protocol": "HTTPS",
        "ssl_policy": TLS_POLICY,
        "certificate_arn": settings.certificate_arn,
        "default_actions": forward,
        "tags": tags,
    }
    redirect = {
        **listener,
        "port": HTTP_PORT,
        "protocol": "HTTP",
        "default_actions": [
            {
                "type": "redirect",
                "redirect": {
                    "protocol": "HTTPS",
                    "port": str(HTTPS_PORT),
                    "status_code": "HTTP_301",
                },
            }
        ],
        "tags": tags,
    }
    listeners = [Document("listener", "https", https), Document("listener", "http", redirect)]
    return [group, *rules, load_balancer, target_group, *listeners]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
