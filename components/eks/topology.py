"""The whole mesh on EKS: cluster, monitoring (Prometheus, Grafana), dashboards, alert rules
and one ``EksMeshService`` per service."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.eks import tempo
from components.eks.iam import NODE_POLICIES, managed_policy_arn, node_trust_policy
from components.eks.monitoring import (
    CHART,
    CHART_REPOSITORY,
    CHART_VERSION,
    RELEASE_NAME,
    dashboard_config_maps,
    grafana_password_command,
    grafana_port_forward,
    monitoring_values,
    prometheus_port_forward,
    prometheus_rule,
)
from components.eks.objects import (
    MONITORING_NAMESPACE,
    demo_app_objects,
    namespaces,
    network_policy,
)
from components.eks.service import EksMeshService, EksMeshServiceArgs
from components.network import Vpc, VpcArgs
from components.settings.errors import PROJECT
from components.settings.model import Settings
from components.settings.rollout import upstreams_first
from components.settings.service_args import mesh_args, service_args
from components.sidecar.demo_app import demo_app_source

# kube-prometheus-stack waits for Prometheus, Grafana and the operator to be ready; on new
# nodes that pull every image first, that takes longer than Helm's default 5 minutes.
RELEASE_TIMEOUT_SECONDS = 900


class EksTopology(pulumi.ComponentResource):
    """Every resource of an ``eks`` stack. No App Mesh: each sidecar carries its own bootstrap.

    The nodes run in the private subnets of the mesh's VPC (the same ``Vpc`` component as the
    ECS topology); the cluster uses access entries only (authentication mode ``API``), with
    the node role admitted as ``EC2_LINUX`` and the identity that runs ``pulumi up`` as the
    cluster's creator-administrator.
    """

    cluster: eks.Cluster
    node_group: eks.ManagedNodeGroup
    provider: k8s.Provider
    release: k8s.helm.v3.Release
    kubeconfig: pulumi.Output[str]
    services: dict[str, EksMeshService]

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("meshvis:eks:Topology", name, None, opts)
        self._name = name
        self.settings = settings
        self._tags = {f"{PROJECT}:mesh": settings.mesh_name}

        self._cluster_and_nodes()
        self.kubeconfig = self.cluster.kubeconfig_json
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self)
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        created = {
            obj["metadata"]["name"]: k8s.core.v1.Namespace(
                f"{name}-ns-{obj['metadata']['name']}", metadata=obj["metadata"], opts=on_cluster
            )
            for obj in namespaces(settings)
        }
        monitoring = created[MONITORING_NAMESPACE]
        mesh_namespace = created[settings.kubernetes_namespace]
        policy = network_policy(settings)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=policy["metadata"],
            spec=policy["spec"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[mesh_namespace])
            ),
        )
        self._monitoring(on_cluster, monitoring)
        if settings.tracing:
            self._tempo(on_cluster, monitoring)
        self._mesh_services(on_cluster, mesh_namespace)

        self.register_outputs(
            {
                "kubeconfig": pulumi.Output.secret(self.kubeconfig),
                "releaseStatus": self.release.status,
            }
        )

    def stack_outputs(self) -> dict:
        """What ``pulumi stack output`` shows: how to reach the cluster and the dashboards."""
        return {
            "kubeconfig": pulumi.Output.secret(self.kubeconfig),
            "namespace": self.settings.kubernetes_namespace,
            "grafanaPortForward": grafana_port_forward(),
            "grafanaPassword": grafana_password_command(),
            "prometheusPortForward": prometheus_port_forward(),
        }

    def _cluster_and_nodes(self) -> None:
        """The VPC, the EKS cluster and its managed node group with their role."""
        name, settings, tags = self._name, self.settings, self._tags
        child = pulumi.ResourceOptions(parent=self)
        network = Vpc(f"{name}-net", VpcArgs(tags=tags), opts=child)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(node_trust_policy()),
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=node_role.name,
                policy_arn=partition.partition.apply(
                    lambda value, policy=policy: managed_policy_arn(value, policy)
                ),
                opts=child,
            )
            for policy in NODE_POLICIES
        ]
        self.cluster = eks.Cluster(
            f"{name}-eks",
            version=settings.eks_version,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                "nodes": eks.AccessEntryArgs(
                    principal_arn=node_role.arn, type=eks.AccessEntryType.EC2_LINUX
                )
            },
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            node_associate_public_ip_address=False,
            # The VPC CNI as an EKS add-on with its network policy agent, which enforces the
            # mesh's NetworkPolicy (the default CNI leaves every pod open to every pod).
            use_default_vpc_cni=False,
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            # The managed node group below replaces the self-managed default one.
            skip_default_node_group=True,
            tags=tags,
            opts=child,
        )
        self.node_group = eks.ManagedNodeGroup(
            f"{name}-nodes",
            # The cluster's core data and the role's ARN rather than the resources themselves:
            # the same wiring, without resource references that Pulumi's unit-test mocks
            # can only rehydrate racily.
            cluster=self.cluster.core,
            node_role_arn=node_role.arn,
            instance_types=[settings.node_instance_type],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                desired_size=settings.node_count,
                min_size=settings.node_count,
                max_size=settings.node_count,
            ),
            subnet_ids=network.private_subnet_ids,
            operating_system=eks.OperatingSystem.AL2023,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )

    def _monitoring(
        self, on_cluster: pulumi.ResourceOptions, monitoring: k8s.core.v1.Namespace
    ) -> None:
        """kube-prometheus-stack, the mesh's Grafana dashboards and its alert rules."""
        name, settings = self._name, self.settings
        # Pods need nodes: without this, Helm and the Deployments would time out waiting on
        # pods that cannot be scheduled while the node group is still being created.
        self.release = k8s.helm.v3.Release(
            f"{name}-monitoring",
            name=RELEASE_NAME,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=monitoring.metadata.name,
            values=monitoring_values(settings),
            timeout=RELEASE_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[self.node_group])
            ),
        )
        in_monitoring = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[monitoring])
        )
        for obj in dashboard_config_maps(settings):
            k8s.core.v1.ConfigMap(
                f"{name}-{obj['metadata']['name']}",
                metadata=obj["metadata"],
                data=obj["data"],
                opts=in_monitoring,
            )
        rule = prometheus_rule(settings)
        # The PrometheusRule kind is defined by the release's CRDs.
        k8s.apiextensions.CustomResource(
            f"{name}-alert-rules",
            api_version=rule["apiVersion"],
            kind=rule["kind"],
            metadata=rule["metadata"],
            spec=rule["spec"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[self.release])
            ),
        )

    def _tempo(self, on_cluster: pulumi.ResourceOptions, monitoring: k8s.core.v1.Namespace) -> None:
        """Grafana Tempo, which receives every sidecar's spans, and its NetworkPolicy."""
        name = self._name
        k8s.helm.v3.Release(
            f"{name}-tempo",
            name=tempo.RELEASE_NAME,
            chart=tempo.CHART,
            version=tempo.CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=tempo.CHART_REPOSITORY),
            namespace=monitoring.metadata.name,
            values=tempo.tempo_values(),
            timeout=RELEASE_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[self.node_group])
            ),
        )
        policy = tempo.tempo_network_policy(self.settings)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-tempo-network-policy",
            metadata=policy["metadata"],
            spec=policy["spec"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[monitoring])
            ),
        )

    def _mesh_services(
        self, on_cluster: pulumi.ResourceOptions, mesh_namespace: k8s.core.v1.Namespace
    ) -> None:
        """The demo app's source (if used) and one ``EksMeshService`` per service."""
        name, settings = self._name, self.settings
        app_source = demo_app_source()
        service_dependencies: list[pulumi.Resource] = [mesh_namespace, self.node_group]
        for obj in demo_app_objects(settings, app_source):
            # One Pulumi name for every version of the source: a new source replaces it
            # (create-before-delete, its object name being content-addressed).
            service_dependencies.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-demo-app",
                    metadata=obj["metadata"],
                    data=obj["data"],
                    immutable=obj["immutable"],
                    opts=pulumi.ResourceOptions.merge(
                        on_cluster, pulumi.ResourceOptions(depends_on=[mesh_namespace])
                    ),
                )
            )
        mesh = mesh_args(settings)
        # Each service's objects reach the cluster through its component's provider.
        with_provider = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        services: dict[str, EksMeshService] = {}
        for spec, waits_for in upstreams_first(settings):
            services[spec.name] = EksMeshService(
                f"{name}-{spec.name}",
                EksMeshServiceArgs(
                    service=service_args(spec),
                    mesh=mesh,
                    kubernetes_namespace=settings.kubernetes_namespace,
                ),
                opts=with_provider,
                start_after=service_dependencies,
                rollout_after=[services[u].deployment for u in waits_for],
            )
        self.services = {spec.name: services[spec.name] for spec in settings.services}
