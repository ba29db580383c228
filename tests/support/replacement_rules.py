"""Which input changes replace a resource, per resource type the program registers, and how.

Read from the providers' own sources (file and commit next to each rule):

* AWS resources are Terraform resources bridged into Pulumi: an argument with
  ``ForceNew: true`` (SDKv2) or ``RequiresReplace()`` (plugin framework) in
  hashicorp/terraform-provider-aws ``internal/service/<svc>/<resource>.go`` replaces the
  resource. The bridge (pulumi/pulumi-terraform-bridge ``pkg/tfbridge/provider.go:1275`` and
  ``schema.go`` ``nameRequiresDeleteBeforeReplace`` @59de6c66) asks for delete-before-create
  when the program set an auto-nameable property itself; pulumi-aws makes every input called
  ``name`` auto-nameable (``provider/autonaming.go`` @0c5f6583, ``providerHooks``
  ``SetAutonaming(255, "-")``) and adds per-resource overrides (``provider/resource_overrides.go``
  @015d3438: ``alarm_name`` is auto-named as ``name``; ``aws_iam_role_policy_attachment`` is
  always delete-before-create).
* Kubernetes objects: pulumi/pulumi-kubernetes @94977969 ``provider/pkg/provider/diff.go``
  (``forceNewProperties``: ``.metadata.name``/``.namespace`` for every kind; a Deployment's
  ``.spec.selector``; a Service's ``.spec.clusterIP``; a ConfigMap's ``.data``/``.binaryData``
  unless ``enableConfigMapMutable``, which defaults to false, provider.go:696-710) and
  ``provider.go:1647-1660`` (delete first when the object keeps the same explicit name and
  namespace). The Helm release: ``helm_release.go:907-932`` (``.name``/``.namespace``,
  never delete first).

``replace_on`` lists input paths (camelCase as registered, ``*`` for list items); ``None``
means "not read here": any change counts as a replacement, and the day-2 check asserts that
no change in its list touches such a resource at all.
"""

from __future__ import annotations

from dataclasses import dataclass

TF = "hashicorp/terraform-provider-aws internal/service/"
K8S_DIFF = "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go @94977969"


@dataclass(frozen=True)
class Rule:
    """How a resource type reacts to a changed input."""

    provider: str  # aws | kubernetes | helm | component
    replace_on: tuple[str, ...] | None
    source: str
    # Inputs the bridge auto-names: set by the program, a replacement deletes first.
    autonamed: tuple[str, ...] = ()
    # Inputs that are a unique physical name: a create-before-delete replacement that keeps
    # them collides with the old resource.
    unique_names: tuple[str, ...] = ()
    # Inputs that scope those names (a name is unique within them): changed, no collision.
    name_scope: tuple[str, ...] = ()
    always_delete_first: bool = False
    # Blocks the provider does not store when they are empty (the next diff sees them again).
    dropped_when_empty: tuple[str, ...] = ()
    # Carries requests: replacing it delete-first is an outage.
    traffic: bool = False


def _aws(replace_on: tuple[str, ...] | None, source: str, **kw) -> Rule:
    return Rule("aws", replace_on, source, **kw)


_NOT_READ = "not read: no day-2 change in the list alters its inputs (asserted)"

RULES: dict[str, Rule] = {
    # --- ECS topology -------------------------------------------------------------------
    "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": _aws(
        ("name", "vpc"),
        TF + "servicediscovery/private_dns_namespace.go @00a35305",
        autonamed=("name",),
        unique_names=("name",),
        traffic=True,
    ),
    "aws:servicediscovery/service:Service": _aws(
        (
            "name",
            "namespaceId",
            "type",
            "dnsConfig.namespaceId",
            "dnsConfig.routingPolicy",
            "dnsConfig.dnsRecords.*.type",
            "healthCheckConfig.type",
            "healthCheckCustomConfig",
        ),
        TF + "servicediscovery/service.go @034cebb6 (create sends health_check_custom_config "
        "only when non-empty; read drops it when AWS returns none)",
        autonamed=("name",),
        unique_names=("name",),
        name_scope=("namespaceId", "dnsConfig.namespaceId"),
        dropped_when_empty=("healthCheckCustomConfig",),
        traffic=True,
    ),
    "aws:ecs/service:Service": _aws(
        (
            "cluster",
            "iamRole",
            "launchType",
            "name",
            "schedulingStrategy",
            "deploymentController.type",
        ),
        TF + "ecs/service.go @00a919d1 (service_registries and load_balancer update in place)",
        autonamed=("name",),
        unique_names=("name",),
        traffic=True,
    ),
    "aws:ecs/taskDefinition:TaskDefinition": _aws(
        (
            "containerDefinitions",
            "cpu",
            "memory",
            "family",
            "executionRoleArn",
            "taskRoleArn",
            "networkMode",
            "requiresCompatibilities",
            "runtimePlatform",
            "volumes",
            "placementConstraints",
            "proxyConfiguration",
            "ephemeralStorage",
            "ipcMode",
            "pidMode",
        ),
        TF + "ecs/task_definition.go @04fc21d5 (every argument but tags and skip_destroy)",
    ),
    "aws:ecs/cluster:Cluster": _aws(
        ("name",),
        TF + "ecs/cluster.go @00a35305 (settings update in place)",
        autonamed=("name",),
        unique_names=("name",),
    ),
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": _aws(
        ("clusterName",),
        TF + "ecs/cluster_capacity_providers.go @cd3a8a7b (capacity_providers update in place)",
    ),
    "aws:lb/loadBalancer:LoadBalancer": _aws(
        ("name", "namePrefix", "internal", "loadBalancerType", "customerOwnedIpv4Pool"),
        TF + "elbv2/load_balancer.go @00edc94b",
        autonamed=("name",),
        unique_names=("name",),
        traffic=True,
    ),
    "aws:lb/targetGroup:TargetGroup": _aws(
        (
            "name",
            "namePrefix",
            "port",
            "protocol",
            "protocolVersion",
            "targetType",
            "vpcId",
            "ipAddressType",
        ),
        TF + "elbv2/target_group.go @013cfb4c (health_check updates in place)",
        autonamed=("name",),
        unique_names=("name",),
        traffic=True,
    ),
    "aws:lb/listener:Listener": _aws(
        ("loadBalancerArn",),
        TF + "elbv2/listener.go @01c08000 (port, protocol, certificate "
        "and default actions update in place)",
        traffic=True,
    ),
    "aws:ec2/securityGroup:SecurityGroup": _aws(
        ("name", "namePrefix", "description", "vpcId"),
        TF + "ec2/vpc_security_group.go @01606926",
        autonamed=("name",),
        unique_names=("name",),
        traffic=True,
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _aws(
        ("securityGroupId", "cidrIpv4", "referencedSecurityGroupId"),
        TF + "ec2/vpc_security_group_ingress_rule.go @00a32209 (RequiresReplace on "
        "security_group_id; ModifyPlan replaces when the source kind changes)",
        traffic=True,
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _aws(
        ("securityGroupId", "cidrIpv4", "referencedSecurityGroupId"),
        TF + "ec2/vpc_security_group_egress_rule.go: same base resource as the ingress rule "
        "(vpc_security_group_ingress_rule.go @00a32209)",
        traffic=True,
    ),
    "aws:cloudwatch/logGroup:LogGroup": _aws(
        ("name", "namePrefix", "logGroupClass"),
        TF + "logs/group.go @0073593e",
        autonamed=("name",),
        unique_names=("name",),
    ),
    "aws:cloudwatch/queryDefinition:QueryDefinition": _aws(
        (),
        TF + "logs/query_definition.go @0ac6a8e1 (PutQueryDefinition updates everything)",
        autonamed=("name",),
    ),
    "aws:cloudwatch/dashboard:Dashboard": _aws(
        ("dashboardName",),
        TF + "cloudwatch/dashboard.go @0620f2a6",
        unique_names=("dashboardName",),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _aws(
        ("name",),
        TF + "cloudwatch/metric_alarm.go (alarm_name ForceNew; stored copy id "
        "94552717) + pulumi-aws resource_overrides.go (alarm_name auto-named as `name`)",
        autonamed=("name",),
        unique_names=("name",),
    ),
    "aws:iam/rolePolicy:RolePolicy": _aws(
        ("name", "namePrefix", "role"),
        TF + "iam/role_policy.go @02f97af8 (policy updates in place)",
        autonamed=("name",),
    ),
    "aws:iam/role:Role": _aws(None, _NOT_READ, autonamed=("name",)),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _aws(
        None,
        _NOT_READ + "; pulumi-aws resource_overrides.go @015d3438 DeleteBeforeReplace",
        always_delete_first=True,
    ),
    # --- the VPC (both topologies) ------------------------------------------------------
    "aws:ec2/vpc:Vpc": _aws(None, _NOT_READ),
    "aws:ec2/subnet:Subnet": _aws(None, _NOT_READ),
    "aws:ec2/internetGateway:InternetGateway": _aws(None, _NOT_READ),
    "aws:ec2/eip:Eip": _aws(None, _NOT_READ),
    "aws:ec2/natGateway:NatGateway": _aws(None, _NOT_READ),
    "aws:ec2/route:Route": _aws(None, _NOT_READ),
    "aws:ec2/routeTable:RouteTable": _aws(None, _NOT_READ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _aws(None, _NOT_READ),
    # --- EKS topology -------------------------------------------------------------------
    "eks:index:Cluster": Rule("aws", None, "pulumi-eks remote component; " + _NOT_READ),
    "eks:index:ManagedNodeGroup": Rule("aws", None, "pulumi-eks remote component; " + _NOT_READ),
    "pulumi:providers:kubernetes": Rule("aws", None, "provider; " + _NOT_READ),
    "kubernetes:helm.sh/v3:Release": Rule(
        "helm",
        ("name", "namespace"),
        "pulumi/pulumi-kubernetes provider/pkg/provider/helm_release.go:907-932 @94977969",
    ),
    "kubernetes:core/v1:Namespace": Rule(
        "kubernetes", ("metadata.name", "metadata.namespace"), K8S_DIFF
    ),
    "kubernetes:core/v1:ConfigMap": Rule(
        "kubernetes",
        ("metadata.name", "metadata.namespace", "data", "binaryData"),
        K8S_DIFF + " (ConfigMap data is immutable unless enableConfigMapMutable)",
    ),
    "kubernetes:core/v1:Service": Rule(
        "kubernetes",
        ("metadata.name", "metadata.namespace", "spec.clusterIP"),
        K8S_DIFF,
        traffic=True,
    ),
    "kubernetes:apps/v1:Deployment": Rule(
        "kubernetes",
        ("metadata.name", "metadata.namespace", "spec.selector"),
        K8S_DIFF,
        traffic=True,
    ),
    "kubernetes:policy/v1:PodDisruptionBudget": Rule(
        "kubernetes",
        ("metadata.name", "metadata.namespace"),
        K8S_DIFF + " (only policy/v1beta1 replaces on .spec)",
    ),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": Rule(
        "kubernetes", ("metadata.name", "metadata.namespace"), K8S_DIFF, traffic=True
    ),
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": Rule(
        "kubernetes", ("metadata.name", "metadata.namespace"), K8S_DIFF
    ),
    # --- the program's own components: nothing of their own to replace --------------------
    "meshvis:ecs:Topology": Rule("component", (), "this program"),
    "meshvis:ecs:MeshService": Rule("component", (), "this program"),
    "meshvis:eks:Topology": Rule("component", (), "this program"),
    "meshvis:eks:MeshService": Rule("component", (), "this program"),
    "meshvis:network:Vpc": Rule("component", (), "this program"),
}
