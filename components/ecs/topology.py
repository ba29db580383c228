"""The whole mesh on ECS: network, cluster, discovery, load balancer, services, visibility."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_aws as aws

from components.ecs.documents import (
    Document,
    MeshReferences,
    mesh_tags,
    service_component_name,
)
from components.ecs.mesh_documents import mesh_documents
from components.ecs.registry import register, stand_ins
from components.ecs.service import EcsMeshService, EcsMeshServiceArgs, LoadBalancerArgs
from components.network import Vpc, VpcArgs
from components.outputs import declared_outputs
from components.settings.model import Settings
from components.settings.rollout import upstreams_first
from components.settings.service_args import mesh_args, service_args
from dashboards.cloudwatch.console import dashboard_name, dashboard_url, trace_map_url
from dashboards.cloudwatch.slo import rule_alarm_names


class EcsTopology(pulumi.ComponentResource):
    """Every resource of an ``ecs`` stack. No App Mesh: each sidecar carries its own bootstrap.

    Firewall: the internet reaches only the load balancer's port 80 (and 443 with a
    ``certificateArn``, 80 then only redirecting to it); the load balancer reaches only the
    entry service's Envoy on 15000; inside the mesh, tasks reach each other's Envoy on 15000
    (ingress) and 9902 (metrics) and nothing else; tasks leave the VPC only on 443.
    """

    cluster_name: pulumi.Output[str]
    """The ECS cluster's name."""
    url: pulumi.Output[str] | None
    """The load balancer's address, `http://` or with a `certificateArn` `https://` (none
    without an `entryService`)."""
    dashboard_name: str
    """The CloudWatch dashboard's name."""
    dashboard_url: str
    """The CloudWatch dashboard in the console."""
    log_groups: list[str]
    """Every container's log group."""
    alert_topic_arn: pulumi.Output[str]
    """The SNS topic the SLO composites and the alarms that name a failing service notify."""
    trace_map_url: str | None
    """The X-Ray trace map in the console (with `tracing`)."""

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("meshvis:ecs:Topology", name, None, opts)
        self._name = name
        self._settings = settings
        self._child = pulumi.ResourceOptions(parent=self)
        self._documents = {
            (d.kind, d.name): d for d in mesh_documents(settings, stand_ins(MeshReferences), name)
        }

        network = Vpc(f"{name}-net", VpcArgs(tags=mesh_tags(settings)), opts=self._child)
        references: dict[str, Any] = {
            "vpc_id": network.vpc_id,
            "public_subnet_ids": network.public_subnet_ids,
        }
        cluster = self._cluster()
        references["cluster_name"] = cluster.name
        # The services get the cluster's ARN only once FARGATE and FARGATE_SPOT are associated
        # with the cluster (a service can name only an associated capacity provider, and every
        # service names one; ``fargateSpot`` picks which).
        providers = self._register("capacity-providers", "capacity", references)
        cluster_arn = pulumi.Output.all(cluster.arn, providers.id).apply(lambda v: v[0])
        namespaces = {
            d.args["name"]: self._register(
                d.kind,
                d.name,
                references,
                # Only a new VPC replaces it: a new zone there, created before the old one
                # goes, instead of the provider's delete-first (explicit name).
                pulumi.ResourceOptions(parent=self, delete_before_replace=False),
            )
            for d in self._of_kind("private-dns-namespace")
        }
        mesh_group = self._register("security-group", "mesh-sg", references)
        references["mesh_security_group_id"] = mesh_group.id
        # AWS's default egress is revoked when the group is created, so no task may start
        # before these exist.
        mesh_rules = [
            self._register(d.kind, d.name, references)
            for d in self._of_kind("egress-rule")
            if d.name.startswith("mesh-to-")
        ]

        entry: LoadBalancerArgs | None = None
        self.url = None
        entry_after: list[pulumi.Resource] = []
        if settings.entry_service is not None:
            entry, entry_after, self.url = self._load_balancer(references)
        self.services: dict[str, EcsMeshService] = self._mesh_services(
            network, cluster_arn, namespaces, (mesh_group, mesh_rules), entry, entry_after
        )
        self.alert_topic_arn = self._visibility(references)

        self.cluster_name = cluster.name
        self.dashboard_name = dashboard_name(settings)
        self.dashboard_url = dashboard_url(str(settings.region), self.dashboard_name)
        self.log_groups = [n for svc in self.services.values() for n in svc.log_group_names]
        self.trace_map_url = trace_map_url(str(settings.region)) if settings.tracing else None
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict:
        """The stack's outputs: the component's own (``declared_outputs``)."""
        return declared_outputs(self)

    def _of_kind(self, kind: str) -> list[Document]:
        """The shared documents of ``kind``."""
        return [d for (k, _), d in self._documents.items() if k == kind]

    def _register(
        self,
        kind: str,
        suffix: str,
        references: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> Any:
        """The shared document ``kind``/``suffix`` as a child resource."""
        return register(self._documents[kind, suffix], self._name, references, opts or self._child)

    def _cluster(self) -> aws.ecs.Cluster:
        """The mesh's cluster, once its Container Insights log group (if any) exists.

        ECS would create that log group itself, with no retention, and ``pulumi destroy`` would
        leave it behind; created here first it keeps the stack's retention and goes with the
        stack.
        """
        depends_on = [self._register(d.kind, d.name, {}) for d in self._of_kind("log-group")]
        return self._register(
            "ecs-cluster", "cluster", {}, pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        )

    def _load_balancer(
        self, references: dict[str, Any]
    ) -> tuple[LoadBalancerArgs, list[pulumi.Resource], pulumi.Output[str]]:
        """The public load balancer in front of the entry service, its firewall and listeners:
        what the entry service gets of it, what its ECS service waits for (the listener that
        forwards to it and the rules of the load balancer's group) and the load balancer's URL.
        Adds the references the shared documents take from it to ``references``."""
        alb_group = self._register("security-group", "alb-sg", references)
        references["load_balancer_security_group_id"] = alb_group.id
        public_rules = {
            d.args["from_port"]: self._register(d.kind, d.name, references)
            for d in self._of_kind("ingress-rule")
        }
        load_balancer = self._register("load-balancer", "alb", references)
        target_group = self._register("target-group", "tg", references)
        references |= {
            "load_balancer_arn": load_balancer.arn,
            "load_balancer_arn_suffix": load_balancer.arn_suffix,
            "target_group_arn": target_group.arn,
            "target_group_arn_suffix": target_group.arn_suffix,
        }
        if ("listener", "https") in self._documents:
            listener = self._register("listener", "https", references)
            # Adding a certificate to a deployed stack turns port 80 into a redirect: only
            # once 443 listens and the firewall lets clients reach it.
            https_rule = public_rules[self._documents["listener", "https"].args["port"]]
            self._register(
                "listener",
                "http",
                references,
                pulumi.ResourceOptions(parent=self, depends_on=[listener, https_rule]),
            )
            scheme = "https://"
        else:
            listener = self._register("listener", "http", references)
            scheme = "http://"
        entry = LoadBalancerArgs(target_group_arn=target_group.arn, security_group_id=alb_group.id)
        url = pulumi.Output.concat(scheme, load_balancer.dns_name)
        return entry, [listener, *public_rules.values()], url

    def _mesh_services(
        self,
        network: Vpc,
        cluster_arn: pulumi.Output[str],
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
        name, settings, child = self._name, self._settings, self._child
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
            args = EcsMeshServiceArgs(
                service=service_args(service),
                mesh=mesh,
                **placement,
                cluster_arn=cluster_arn,
                vpc_id=network.vpc_id,
                subnet_ids=list(network.private_subnet_ids),
                mesh_security_group_id=mesh_group.id,
                namespace_id=namespaces[settings.dns_namespace].id,
                tags=mesh_tags(settings),
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
                service_component_name(name, service.name),
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

    def _visibility(self, references: dict[str, Any]) -> pulumi.Output[str]:
        """The CloudWatch dashboard, the mesh's alert topic (CloudWatch may publish to it;
        ``alertEmail`` subscribes an address), the alarms (those that name a failing service
        notify it), the Logs Insights query definitions, and the page and ticket composites of
        the SLO burn-rate alarms that notify it; returns the topic's ARN.

        A composite's rule names its children by name, which must exist first (PutCompositeAlarm
        refuses a rule naming an unknown alarm): it depends on them, so Pulumi also deletes it
        before them (reverse dependency order) and no composite is left naming a deleted alarm.
        DeleteAlarms itself would not stop that: it refuses only alarms in a cycle of
        composites (DeleteAlarms documentation, botocore data/cloudwatch/2010-08-01).
        """
        self._register("dashboard", "dashboard", references)
        # First: the alarms that name a failing service notify it too, and an alarm that
        # changes state before the topic's policy exists would fail to publish.
        topic = self._register("topic", "alerts", references)
        references = {**references, "topic_arn": topic.arn}
        policy = self._register("topic-policy", "alerts-policy", references)
        for document in self._of_kind("topic-subscription"):
            self._register(document.kind, document.name, references)
        alarms = {
            d.args.get("name", d.name): self._register(
                d.kind,
                d.name,
                references,
                pulumi.ResourceOptions(
                    parent=self, depends_on=[policy] if "alarm_actions" in d.args else []
                ),
            )
            for d in self._of_kind("metric-alarm")
        }
        log_groups = [group for svc in self.services.values() for group in svc.log_groups]
        for document in self._of_kind("query-definition"):
            self._register(
                document.kind,
                document.name,
                references,
                pulumi.ResourceOptions(parent=self, depends_on=log_groups),
            )
        for document in self._of_kind("composite-alarm"):
            children = [alarms[n] for n in rule_alarm_names(document.args["alarm_rule"])]
            self._register(
                document.kind,
                document.name,
                references,
                pulumi.ResourceOptions(parent=self, depends_on=[*children, policy]),
            )
        return topic.arn
