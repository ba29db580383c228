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

``replace_on`` lists input paths (camelCase as registered, ``*`` for list items). Every row is
read from its provider (``test_rule_rows_are_read_from_the_providers_sources`` refuses a
``None`` row, which would mean "not read": any change a replacement). On top of each row, every
regional AWS resource (``region_aware``) is replaced when the provider's region changes: the
day-2 check injects that region as pulumi-aws does (``day2_plan.provider_inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    # Inputs of which exactly one is set: switching to another one replaces the resource
    # (a value changed within the same one updates in place).
    one_of: tuple[str, ...] = ()
    # Has the provider's per-resource `region` (every regional AWS resource; not IAM).
    region_aware: bool = True
    # (provider input, paths): the paths of ``replace_on`` that update in place when the
    # resource's provider has that input set (pulumi-kubernetes's enableSecretMutable).
    mutable_with: tuple[str, tuple[str, ...]] | None = None


def _aws(replace_on: tuple[str, ...] | None, source: str, **kw: Any) -> Rule:
    return Rule("aws", replace_on, source, **kw)


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
        ("securityGroupId",),
        TF + "ec2/vpc_security_group_ingress_rule.go @00a32209 (RequiresReplace on "
        "security_group_id only; Update sends a new source or port to ModifySecurityGroupRules; "
        "ModifyPlan replaces only when the source kind changes)",
        one_of=("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"),
        traffic=True,
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _aws(
        ("securityGroupId",),
        TF + "ec2/vpc_security_group_egress_rule.go: same base resource as the ingress rule "
        "(vpc_security_group_ingress_rule.go @00a32209)",
        one_of=("cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"),
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
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _aws(
        ("alarmName", "actionsEnabled"),
        TF + "cloudwatch/composite_alarm.go @050ac111 (PutCompositeAlarm updates the rule and "
        "actions); alarm_name treated as the auto-named name, as for the metric alarm",
        autonamed=("alarmName",),
        unique_names=("alarmName",),
    ),
    "aws:sns/topic:Topic": _aws(
        ("name", "namePrefix", "fifoTopic"),
        TF + "sns/topic.go @00a35305 (every other attribute: SetTopicAttributes)",
        autonamed=("name",),
        unique_names=("name",),
    ),
    "aws:sns/topicPolicy:TopicPolicy": _aws(
        ("arn",), TF + "sns/topic_policy.go @00a35305 (policy: upsert in place)"
    ),
    "aws:sns/topicSubscription:TopicSubscription": _aws(
        ("endpoint", "protocol", "topic"),
        TF + "sns/topic_subscription.go @04a2e6e5 (endpoint, protocol, topic_arn ForceNew; "
        "pulumi-aws names topic_arn `topic`): a new address is a new subscription to confirm",
    ),
    "aws:iam/rolePolicy:RolePolicy": _aws(
        ("name", "namePrefix", "role"),
        TF + "iam/role_policy.go @02f97af8 (policy updates in place)",
        autonamed=("name",),
        region_aware=False,
    ),
    "aws:iam/role:Role": _aws(
        ("name", "namePrefix", "path"),
        TF + "iam/role.go @0040ea69 (assume_role_policy, description update in place)",
        autonamed=("name",),
        unique_names=("name",),
        region_aware=False,
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _aws(
        ("role", "policyArn"),
        TF + "iam/role_policy_attachment.go @04c79849 (no Update: both ForceNew); "
        "pulumi-aws resource_overrides.go @015d3438 DeleteBeforeReplace",
        always_delete_first=True,
        region_aware=False,
    ),
    # --- the VPC (both topologies) ------------------------------------------------------
    "aws:ec2/vpc:Vpc": _aws(
        ("cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"),
        TF + "ec2/vpc_.go @00081ce4 (DNS attributes and tenancy update in place)",
    ),
    "aws:ec2/subnet:Subnet": _aws(
        (
            "vpcId",
            "cidrBlock",
            "availabilityZone",
            "availabilityZoneId",
            "ipv4IpamPoolId",
            "ipv4NetmaskLength",
            "ipv6IpamPoolId",
            "ipv6Native",
            "ipv6NetmaskLength",
            "outpostArn",
        ),
        TF + "ec2/vpc_subnet.go @00cda125",
    ),
    "aws:ec2/internetGateway:InternetGateway": _aws(
        (), TF + "ec2/vpc_internet_gateway.go @08923b68 (vpc_id: detach, then attach)"
    ),
    "aws:ec2/eip:Eip": _aws(
        ("address", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"),
        TF + "ec2/ec2_eip.go @01606926",
    ),
    "aws:ec2/natGateway:NatGateway": _aws(
        (
            "allocationId",
            "connectivityType",
            "privateIp",
            "secondaryPrivateIpAddressCount",
            "subnetId",
        ),
        TF + "ec2/vpc_nat_gateway.go @04088eaa",
        traffic=True,
    ),
    "aws:ec2/route:Route": _aws(
        (
            "routeTableId",
            "destinationCidrBlock",
            "destinationIpv6CidrBlock",
            "destinationPrefixListId",
        ),
        TF + "ec2/vpc_route.go @0128541e (a new target is ReplaceRoute in place)",
        traffic=True,
    ),
    "aws:ec2/routeTable:RouteTable": _aws(
        ("vpcId",), TF + "ec2/vpc_route_table.go @02209241", traffic=True
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _aws(
        ("subnetId", "gatewayId"),
        TF + "ec2/vpc_route_table_association.go @0be71beb (route_table_id: "
        "ReplaceRouteTableAssociation in place)",
        traffic=True,
    ),
    # --- EKS topology -------------------------------------------------------------------
    # pulumi-eks components, by the inputs they pass on to the AWS resources they create
    # (pulumi/pulumi-eks @7bf0c1b17993 nodejs/eks/cluster/cluster.ts, nodes/nodegroup.ts
    # createManagedNodeGroupInternal) and those resources' ForceNew arguments.
    "eks:index:Cluster": _aws(
        # aws_eks_cluster: name, role_arn, kubernetes_network_config.{ip_family,
        # service_ipv4_cidr} ForceNew; version, vpc_config (endpoint access, public_access_cidrs,
        # subnet_ids), logging and authentication_mode update in place (UpdateClusterVersion,
        # UpdateClusterConfig). vpcId: the cluster security group pulumi-eks creates in it
        # (ec2/vpc_security_group.go vpc_id ForceNew) and the cluster's vpc_config with it.
        ("name", "serviceRole", "vpcId", "kubernetesServiceIpAddressRange", "ipFamily"),
        TF + "eks/cluster.go @00555dc5",
    ),
    "eks:index:ManagedNodeGroup": _aws(
        # aws_eks_node_group: instance_types, subnet_ids, node_role_arn, ami_type (pulumi-eks
        # derives it from operatingSystem), capacity_type, disk_size, cluster_name and the
        # name ForceNew; scaling_config and version update in place (UpdateNodegroupConfig,
        # UpdateNodegroupVersion: a rolling replacement of the nodes, PDBs respected). No
        # name is set, so the bridge replaces it create-before-delete.
        (
            "instanceTypes",
            "subnetIds",
            "nodeRoleArn",
            "amiType",
            "operatingSystem",
            "capacityType",
            "diskSize",
            "clusterName",
            "nodeGroupName",
            "nodeGroupNamePrefix",
        ),
        TF + "eks/node_group.go @012e0a32",
    ),
    "eks:index:Addon": _aws(
        # aws_eks_addon: addon_name and cluster_name ForceNew; service_account_role_arn,
        # addon_version and configuration_values update in place (UpdateAddon).
        ("addonName", "cluster"),
        TF + "eks/addon.go @00a35305",
    ),
    "pulumi:providers:kubernetes": Rule(
        "kubernetes",
        ("kubeconfig", "context", "cluster", "clusterIdentifier", "renderYamlToDirectory"),
        "pulumi/pulumi-kubernetes provider/pkg/provider/provider.go DiffConfig @94977969 "
        "(a kubeconfig that is computed or names another active cluster replaces the "
        "provider, and with it every object it manages)",
    ),
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
    "kubernetes:core/v1:Secret": Rule(
        "kubernetes",
        ("metadata.name", "metadata.namespace", "type", "stringData", "data"),
        K8S_DIFF + " (a Secret's .type, .stringData and .data replace it unless "
        "enableSecretMutable, default false: provider.go:712-725; with it only .type: "
        "diff.go forceNewProperties lines 28-29, 155-157)",
        mutable_with=("enableSecretMutable", ("stringData", "data")),
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
    "kubernetes:storage.k8s.io/v1:StorageClass": Rule(
        "kubernetes", ("metadata.name", "metadata.namespace", "parameters", "provisioner"), K8S_DIFF
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
