"""The whole mesh on ECS: network, cluster, discovery, load balancer, services, visibility."""

from __future__ import annotations

import json
import re
from typing import cast

import pulumi
import pulumi_aws as aws

from components.ecs.containers import FARGATE_CAPACITY_PROVIDERS
from components.ecs.service import (
    EcsMeshService,
    EcsMeshServiceArgs,
    LoadBalancerArgs,
    tcp_port_rule,
)
from components.network import Vpc, VpcArgs
from components.settings.errors import PROJECT
from components.settings.model import Settings
from components.settings.naming import cluster_name, container_insights_log_group
from components.settings.ports import INGRESS_PORT, METRICS_PORT
from components.settings.rollout import upstreams_first
from components.settings.service_args import mesh_args, service_args
from components.sidecar.names import LB_HEALTH_PATH
from components.sidecar.tracing import component_trace_limit
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.dashboard import dashboard_body
from dashboards.cloudwatch.logs_insights import query_definitions
from dashboards.cloudwatch.slo import (
    alert_topic_policy,
    composite_alarm_specs,
    rule_alarm_names,
    slo_alarm_specs,
)

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


def dashboard_name(settings: Settings) -> str:
    """Name of the mesh's CloudWatch dashboard."""
    return f"{PROJECT}-{settings.mesh_name}"


def dashboard_url(region: str, name: str) -> str:
    """Console address of a CloudWatch dashboard."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={name}"
    )


def trace_map_url(region: str) -> str:
    """Console address of the X-Ray trace map (CloudWatch console, "X-Ray traces"), where the
    sidecars' spans show as a service graph; its "Traces" view lists single traces."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        "#xray:service-map/map"
    )


class EcsTopology(pulumi.ComponentResource):
    """Every resource of an ``ecs`` stack. No App Mesh: each sidecar carries its own bootstrap.

    Firewall: the internet reaches only the load balancer's port 80 (and 443 with a
    ``certificateArn``, 80 then only redirecting to it); the load balancer reaches only the
    entry service's Envoy on 15000; inside the mesh, tasks reach each other's Envoy on 15000
    (ingress) and 9902 (metrics) and nothing else; tasks leave the VPC only on 443.
    """

    cluster_name: pulumi.Output[str]
    url: pulumi.Output[str] | None
    dashboard_url: str
    log_group_names: list[str]
    alert_topic_arn: pulumi.Output[str]
    services: dict[str, EcsMeshService]

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("meshvis:ecs:Topology", name, None, opts)
        self._name = name
        self._settings = settings
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = {f"{PROJECT}:mesh": settings.mesh_name}

        network = Vpc(f"{name}-net", VpcArgs(tags=self._tags), opts=self._child)
        cluster = self._cluster()
        namespaces = {
            namespace: self._namespace(network, namespace)
            for namespace in (settings.dns_namespace, settings.previous_dns_namespace)
            if namespace
        }
        mesh_group, mesh_rules = self._mesh_firewall(network)

        entry: LoadBalancerArgs | None = None
        self.url = None
        load_balancer = target_group = None
        entry_after: list[pulumi.Resource] = []
        if settings.entry_service is not None:
            entry, entry_after, load_balancer, target_group = self._load_balancer(network)
        self.services = self._mesh_services(
            network, cluster, namespaces, (mesh_group, mesh_rules), entry, entry_after
        )
        dashboard = self._visibility(load_balancer, target_group)
        self.alert_topic_arn = self._slo_alarms().arn

        self.cluster_name = cluster.name
        self.dashboard_url = dashboard_url(str(settings.region), dashboard_name(settings))
        self.log_group_names = [n for svc in self.services.values() for n in svc.log_group_names]
        self.register_outputs({**self.stack_outputs(), "dashboardName": dashboard.dashboard_name})

    def stack_outputs(self) -> dict:
        """The stack's outputs: url (with a load balancer), dashboardUrl, logGroups, clusterName,
        alertTopicArn, traceMapUrl (with tracing)."""
        outputs: dict = {
            "dashboardUrl": self.dashboard_url,
            "logGroups": self.log_group_names,
            "clusterName": self.cluster_name,
            "alertTopicArn": self.alert_topic_arn,
        }
        if self.url is not None:
            outputs["url"] = self.url
        if self._settings.tracing:
            outputs["traceMapUrl"] = trace_map_url(str(self._settings.region))
        return outputs

    def _cluster(self) -> aws.ecs.Cluster:
        """The mesh's cluster; with ``containerInsights``, also its performance log group.

        ECS would create that log group itself, with no retention, and ``pulumi destroy`` would
        leave it behind; created here first (the cluster depends on it) it keeps the stack's
        retention and goes with the stack.
        """
        settings, tags, child = self._settings, self._tags, self._child
        name = cluster_name(settings.mesh_name)
        depends_on: list[pulumi.Resource] = []
        if settings.container_insights:
            depends_on.append(
                aws.cloudwatch.LogGroup(
                    f"{self._name}-insights-logs",
                    name=container_insights_log_group(name),
                    retention_in_days=settings.log_retention_days,
                    tags=tags,
                    opts=child,
                )
            )
        return aws.ecs.Cluster(
            f"{self._name}-cluster",
            name=name,
            settings=[
                {
                    "name": "containerInsights",
                    "value": "enabled" if settings.container_insights else "disabled",
                }
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    def _namespace(self, network: Vpc, namespace: str) -> aws.servicediscovery.PrivateDnsNamespace:
        """The Cloud Map private DNS namespace ``namespace``, named after it: a new
        ``dnsNamespace`` is a new resource next to the old one (different names may share the
        VPC), and ``previousDnsNamespace`` keeps the old one exactly as deployed."""
        return aws.servicediscovery.PrivateDnsNamespace(
            f"{self._name}-dns-{namespace}",
            name=namespace,
            vpc=network.vpc_id,
            description=f"Service discovery of the {self._settings.mesh_name} mesh",
            tags=self._tags,
            # Only a new VPC replaces it: a new zone there, created before the old one goes,
            # instead of the provider's delete-first (explicit name).
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )

    def _capacity_providers(self, cluster: aws.ecs.Cluster) -> pulumi.Output[str]:
        """The cluster's ARN as the services must get it: only once FARGATE and FARGATE_SPOT
        are associated with the cluster (a service can name only an associated capacity
        provider, and every service names one; ``fargateSpot`` picks which)."""
        providers = aws.ecs.ClusterCapacityProviders(
            f"{self._name}-capacity",
            cluster_name=cluster.name,
            capacity_providers=list(FARGATE_CAPACITY_PROVIDERS),
            opts=self._child,
        )
        return pulumi.Output.all(cluster.arn, providers.id).apply(lambda v: v[0])

    def _mesh_firewall(
        self, network: Vpc
    ) -> tuple[aws.ec2.SecurityGroup, list[aws.vpc.SecurityGroupEgressRule]]:
        """The security group of every task: out to other tasks' Envoy ports and to 443 only;
        and its rules (AWS's default egress is revoked when the group is created, so no task
        may start before they exist)."""
        name, settings, tags, child = self._name, self._settings, self._tags, self._child
        mesh_group = aws.ec2.SecurityGroup(
            f"{name}-mesh-sg",
            vpc_id=network.vpc_id,
            description=f"Every task of the {settings.mesh_name} mesh",
            tags={**tags, "Name": f"{name}-mesh-sg"},
            opts=child,
        )
        rules = [
            tcp_port_rule(
                aws.vpc.SecurityGroupEgressRule,
                f"{name}-mesh-to-{label}",
                mesh_group.id,
                port,
                f"Envoy {port} of other mesh tasks",
                child,
                peer_group_id=mesh_group.id,
            )
            for label, port in (("ingress", INGRESS_PORT), ("metrics", METRICS_PORT))
        ]
        https = tcp_port_rule(
            aws.vpc.SecurityGroupEgressRule,
            f"{name}-mesh-to-https",
            mesh_group.id,
            HTTPS_PORT,
            "Image pulls and AWS APIs (CloudWatch, Logs) through the NAT gateway",
            child,
            cidr=ANYWHERE,
        )
        return mesh_group, [*rules, https]

    def _load_balancer(
        self, network: Vpc
    ) -> tuple[LoadBalancerArgs, list[pulumi.Resource], aws.lb.LoadBalancer, aws.lb.TargetGroup]:
        """The public load balancer in front of the entry service, its firewall and listeners;
        first what the entry service gets of it and what its ECS service waits for: the
        listener that forwards to it and the rules of the load balancer's group."""
        name, settings, tags, child = self._name, self._settings, self._tags, self._child
        alb_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=network.vpc_id,
            description=f"Load balancer of the {settings.mesh_name} mesh",
            tags={**tags, "Name": f"{name}-alb-sg"},
            opts=child,
        )
        public_ports = [("internet", HTTP_PORT, "HTTP")]
        if settings.certificate_arn is not None:
            public_ports.append(("internet-https", HTTPS_PORT, "HTTPS"))
        public_rules = {
            port: tcp_port_rule(
                aws.vpc.SecurityGroupIngressRule,
                f"{name}-alb-from-{label}",
                alb_group.id,
                port,
                f"{protocol} from the internet",
                child,
                cidr=ANYWHERE,
            )
            for label, port, protocol in public_ports
        }
        load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            security_groups=[alb_group.id],
            subnets=network.public_subnet_ids,
            drop_invalid_header_fields=True,
            tags=tags,
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=INGRESS_PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=network.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY,
            # Through Envoy to the app: a target is healthy only when both are. Always the one
            # path the entry's sidecar routes to its `healthPath`, so a changed `healthPath`
            # never updates the target group (in place, at the start of the update, before
            # any task serving the new path exists): it rolls out with the entry's tasks.
            health_check={
                "path": LB_HEALTH_PATH,
                "port": "traffic-port",
                "protocol": "HTTP",
                "matcher": "200-399",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags=tags,
            opts=child,
        )
        forward: list[aws.lb.ListenerDefaultActionArgsDict] = [
            {"type": "forward", "target_group_arn": target_group.arn}
        ]
        if settings.certificate_arn is None:
            listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=load_balancer.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=forward,
                tags=tags,
                opts=child,
            )
            scheme = "http://"
        else:
            listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=load_balancer.arn,
                port=HTTPS_PORT,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=settings.certificate_arn,
                default_actions=forward,
                tags=tags,
                opts=child,
            )
            # Adding a certificate to a deployed stack turns port 80 into a redirect: only
            # once 443 listens and the firewall lets clients reach it.
            aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=load_balancer.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=[
                    {
                        "type": "redirect",
                        "redirect": {
                            "protocol": "HTTPS",
                            "port": str(HTTPS_PORT),
                            "status_code": "HTTP_301",
                        },
                    }
                ],
                tags=tags,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[listener, public_rules[HTTPS_PORT]]
                ),
            )
            scheme = "https://"
        entry = LoadBalancerArgs(target_group_arn=target_group.arn, security_group_id=alb_group.id)
        self.url = pulumi.Output.concat(scheme, load_balancer.dns_name)
        return entry, [listener, *public_rules.values()], load_balancer, target_group

    def _mesh_services(
        self,
        network: Vpc,
        cluster: aws.ecs.Cluster,
        namespaces: dict[str, aws.servicediscovery.PrivateDnsNamespace],
        mesh_firewall: tuple[aws.ec2.SecurityGroup, list[aws.vpc.SecurityGroupEgressRule]],
        entry: LoadBalancerArgs | None,
        entry_after: list[pulumi.Resource],
    ) -> dict[str, EcsMeshService]:
        """One ``EcsMeshService`` per service, the entry service attached to the load balancer.

        Each rolls out once its upstreams' ECS services are steady (so its new tasks never call
        an upstream that is not up yet), the entry service once the listener forwards to its
        target group (ECS refuses a target group that no load balancer uses yet); every one
        once the mesh group's rules exist.
        """
        mesh_group, mesh_rules = mesh_firewall
        name, settings, tags, child = self._name, self._settings, self._tags, self._child
        cluster_arn = self._capacity_providers(cluster)
        mesh = mesh_args(settings)
        # The stack's settings that are arguments of the component (region, dnsNamespace, ...).
        # A partial EcsMeshServiceArgs by construction: its own keys, with the settings' values.
        placement = cast(
            EcsMeshServiceArgs,
            {
                key: getattr(settings, key)
                for key in EcsMeshServiceArgs.__annotations__
                if key in Settings.model_fields
            },
        )
        if settings.previous_dns_namespace:
            placement["previous_namespace_id"] = namespaces[settings.previous_dns_namespace].id
        services: dict[str, EcsMeshService] = {}
        for service, waits_for in upstreams_first(settings):
            own_mesh = mesh.copy()
            own_mesh["trace_limit_per_minute"] = component_trace_limit(settings, service)
            args = EcsMeshServiceArgs(
                service=service_args(service),
                mesh=own_mesh,
                **placement,
                cluster_arn=cluster_arn,
                vpc_id=network.vpc_id,
                subnet_ids=list(network.private_subnet_ids),
                mesh_security_group_id=mesh_group.id,
                namespace_id=namespaces[settings.dns_namespace].id,
                tags=tags,
            )
            rollout_after: list[pulumi.Resource] = [
                *mesh_rules,
                *(services[u].ecs_service for u in waits_for),
            ]
            # entry is set exactly when there is an entry service.
            if entry is not None and service.name == settings.entry_service:
                args["load_balancer"] = entry
                rollout_after += entry_after
            services[service.name] = EcsMeshService(
                f"{name}-{service.name}",
                args,
                opts=child,
                rollout_after=rollout_after,
                alb_rule_aliases=self._alb_rule_aliases(service.name),
            )
        return {s.name: services[s.name] for s in settings.services}

    def _alb_rule_aliases(self, service: str) -> list[pulumi.Alias]:
        """The earlier URN of the entry's load balancer egress rule: up to c0559b3 the topology
        registered it as ``<name>-alb-to-entry``. Without the alias the engine creates the
        identical rule under its new URN before deleting the old one at the end of the update,
        and EC2 refuses the duplicate (InvalidPermission.Duplicate). An alias with another name
        and parent: "The previous parent of the resource. If not provided ... the current
        parent" (pulumi/pulumi sdk/python/lib/pulumi/resource.py ``Alias``)."""
        if service != self._settings.entry_service:
            return []
        return [pulumi.Alias(name=f"{self._name}-alb-to-entry", parent=self)]

    def _visibility(
        self, load_balancer: aws.lb.LoadBalancer | None, target_group: aws.lb.TargetGroup | None
    ) -> aws.cloudwatch.Dashboard:
        """The CloudWatch dashboard, the alarms and the Logs Insights query definitions."""
        name, settings, tags, child = self._name, self._settings, self._tags, self._child
        if load_balancer is not None and target_group is not None:
            body = pulumi.Output.all(load_balancer.arn_suffix, target_group.arn_suffix).apply(
                lambda v: json.dumps(dashboard_body(settings, v[0], v[1]))
            )
        else:
            body = pulumi.Output.from_input(json.dumps(dashboard_body(settings, None, None)))
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=dashboard_name(settings),
            dashboard_body=body,
            opts=child,
        )
        for spec in alarm_specs(settings):
            kwargs = dict(spec)
            suffix = kwargs.pop("name")
            kwargs["tags"] = {**tags, **kwargs.get("tags", {})}
            aws.cloudwatch.MetricAlarm(f"{name}-{suffix}", **kwargs, opts=child)
        log_groups = [group for svc in self.services.values() for group in svc.log_groups]
        for query in query_definitions(settings):
            aws.cloudwatch.QueryDefinition(
                f"{name}-query-{_slug(query['name'])}",
                name=query["name"],
                query_string=query["query_string"],
                log_group_names=query["log_group_names"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=log_groups),
            )
        return dashboard

    def _slo_alarms(self) -> aws.sns.Topic:
        """The mesh's alert topic (CloudWatch may publish to it; ``alertEmail`` subscribes an
        address), the SLO burn-rate alarms and the page and ticket composites that notify it.

        A composite's rule names its children by name, which must exist first (PutCompositeAlarm
        refuses a rule naming an unknown alarm): it depends on them, so Pulumi also deletes it
        before them (reverse dependency order) and no composite is left naming a deleted alarm.
        DeleteAlarms itself would not stop that: it refuses only alarms in a cycle of
        composites (DeleteAlarms documentation, botocore data/cloudwatch/2010-08-01).
        """
        name, settings, tags, child = self._name, self._settings, self._tags, self._child
        topic = aws.sns.Topic(f"{name}-alerts", tags=tags, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=topic.arn,
            policy=topic.arn.apply(lambda arn: json.dumps(alert_topic_policy(arn))),
            opts=child,
        )
        if settings.alert_email:
            aws.sns.TopicSubscription(
                f"{name}-alerts-email",
                topic=topic.arn,
                protocol="email",
                endpoint=settings.alert_email,
                opts=child,
            )
        alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for spec in slo_alarm_specs(settings):
            kwargs = dict(spec)
            suffix = kwargs.pop("resource_name")
            kwargs["tags"] = {**tags, **kwargs["tags"]}
            alarms[kwargs["name"]] = aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}", **kwargs, opts=child
            )
        for spec in composite_alarm_specs(settings, topic.arn):
            kwargs = dict(spec)
            suffix = kwargs.pop("resource_name")
            kwargs["tags"] = {**tags, **kwargs["tags"]}
            children = [alarms[n] for n in rule_alarm_names(kwargs["alarm_rule"])]
            aws.cloudwatch.CompositeAlarm(
                f"{name}-{suffix}",
                **kwargs,
                opts=pulumi.ResourceOptions(parent=self, depends_on=children),
            )
        return topic


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
