"""The whole mesh on EKS: cluster, monitoring (Prometheus, Grafana), dashboards, alert rules
and one ``EksMeshService`` per service."""

from __future__ import annotations

import json
from functools import partial

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.eks import storage, tempo
from components.eks.alerting import CONFIG_KEY, alertmanager_config_text, config_secret
from components.eks.iam import (
    NODE_POLICIES,
    managed_policy_arn,
    node_trust_policy,
    service_account_trust_policy,
)
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
from components.sidecar.tracing import component_trace_limit

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
    storage_class: k8s.storage.v1.StorageClass
    ebs_csi_addon: eks.Addon
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
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Without it every change to a Secret's data (Alertmanager's configuration) is a
            # delete-then-create: diff.go marks `.data`/`.stringData` of a Secret as
            # replace-on-change unless the provider is built with enableSecretMutable
            # (pulumi-kubernetes provider/pkg/provider/diff.go @94977969d641).
            enable_secret_mutable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        self._storage(on_cluster)
        created = {
            obj["metadata"]["name"]: k8s.core.v1.Namespace(
                f"{name}-ns-{obj['metadata']['name']}",
                metadata=obj["metadata"],
                # A namespace that holds volume claims is deleted (and waits for its claims to
                # go) before the EBS CSI driver and the StorageClass: `pulumi destroy` deletes
                # dependents first, and with the driver gone first no one deletes the volumes.
                opts=pulumi.ResourceOptions.merge(
                    on_cluster,
                    pulumi.ResourceOptions(depends_on=[self.ebs_csi_addon, self.storage_class]),
                )
                if obj["metadata"]["name"] in storage.CLAIM_NAMESPACES
                else on_cluster,
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
                policy_arn=partition.partition.apply(partial(managed_policy_arn, name=policy)),
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
            # Both endpoints, said explicitly. Public, for `pulumi up` and kubectl, limited to
            # apiAccessCidrs: pulumi-eks waits for the API server's /healthz before it hands
            # out the kubeconfig only when endpointPublicAccess is truthy, and leaving it unset
            # skipped that wait (nodejs/eks/cluster/cluster.ts, `if (!isDryRun() &&
            # args.endpointPublicAccess)` @7bf0c1b17993); pulumi-kubernetes then found the
            # new API server unreachable on its first discovery (Configure: getResources fails
            # -> clusterUnreachable, kept for the provider's life) and failed every Kubernetes
            # resource of the run (provider/pkg/provider/provider.go @94977969d641). Private,
            # so the nodes in the private subnets join through the VPC
            # whatever apiAccessCidrs admits (their NAT address need not be listed).
            endpoint_public_access=True,
            endpoint_private_access=True,
            public_access_cidrs=list(settings.api_access_cidrs),
            # The VPC CNI as an EKS add-on with its network policy agent, which enforces the
            # mesh's NetworkPolicy (the default CNI leaves every pod open to every pod).
            use_default_vpc_cni=False,
            vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
            # The managed node group below replaces the self-managed default one.
            skip_default_node_group=True,
            # IAM roles for service accounts: the EBS CSI driver's controller assumes its role
            # through this provider (components/eks/storage.py).
            create_oidc_provider=True,
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
            # The nodes follow the control plane: without a version the node group keeps the
            # one it was created with, and an eksVersion change would upgrade only the
            # control plane. A version change is a rolling node update in place
            # (UpdateNodegroupVersion; terraform-provider-aws eks/node_group.go).
            version=settings.eks_version,
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

    def _storage(self, on_cluster: pulumi.ResourceOptions) -> None:
        """The EBS CSI driver (an EKS add-on, its controller on an IRSA role) and the gp3
        StorageClass that Prometheus's and Tempo's volumes are claimed from."""
        name, tags = self._name, self._tags
        child = pulumi.ResourceOptions(parent=self)
        namespace, account = storage.EBS_CSI_SERVICE_ACCOUNT
        role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=pulumi.Output.all(
                self.cluster.oidc_provider_arn, self.cluster.oidc_issuer
            ).apply(
                lambda args: json.dumps(
                    service_account_trust_policy(args[0], args[1], namespace, account)
                )
            ),
            tags=tags,
            opts=child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            role=role.name,
            policy_arn=partition.partition.apply(
                lambda value: managed_policy_arn(value, storage.EBS_CSI_POLICY)
            ),
            opts=child,
        )
        # pulumi-eks's Addon takes the cluster itself (the add-on needs its name). Its
        # controller pods need nodes to run on.
        self.ebs_csi_addon = eks.Addon(
            f"{name}-ebs-csi",
            cluster=self.cluster,
            addon_name=storage.EBS_CSI_ADDON,
            service_account_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment, self.node_group]),
        )
        obj = storage.storage_class()
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-storage-class",
            metadata=obj["metadata"],
            provisioner=obj["provisioner"],
            parameters=obj["parameters"],
            reclaim_policy=obj["reclaimPolicy"],
            allow_volume_expansion=obj["allowVolumeExpansion"],
            volume_binding_mode=obj["volumeBindingMode"],
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[self.ebs_csi_addon])
            ),
        )

    def _monitoring(
        self, on_cluster: pulumi.ResourceOptions, monitoring: k8s.core.v1.Namespace
    ) -> None:
        """kube-prometheus-stack, the mesh's Grafana dashboards and its alert rules."""
        name, settings = self._name, self.settings
        in_monitoring = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[monitoring])
        )
        # Alertmanager's configuration, which the release's Alertmanager reads (it must exist
        # first); the webhook URL stays a Pulumi secret into the Secret's data.
        rendered = config_secret(settings)
        webhook = settings.alert_webhook_url
        alertmanager_config = k8s.core.v1.Secret(
            f"{name}-alertmanager-config",
            metadata=rendered["metadata"],
            type=rendered["type"],
            string_data={
                CONFIG_KEY: pulumi.Output.secret(webhook).apply(
                    lambda url: alertmanager_config_text(settings, url)
                )
            },
            opts=in_monitoring,
        )
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
            # Prometheus's volume claim needs the StorageClass and its driver.
            opts=pulumi.ResourceOptions.merge(
                on_cluster,
                pulumi.ResourceOptions(
                    depends_on=[self.node_group, self.storage_class, alertmanager_config]
                ),
            ),
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
                on_cluster,
                pulumi.ResourceOptions(
                    depends_on=[self.node_group, self.storage_class],
                    # A persistence change rewrites the StatefulSet's volumeClaimTemplates,
                    # which Kubernetes refuses to update, so a Helm upgrade would fail: the
                    # release is replaced instead (tempo.REPLACE_ON_CHANGES), delete-first
                    # because the new one takes the same release name.
                    replace_on_changes=list(tempo.REPLACE_ON_CHANGES),
                    delete_before_replace=True,
                ),
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
            own_mesh = mesh.copy()
            own_mesh["trace_limit_per_minute"] = component_trace_limit(settings, spec)
            services[spec.name] = EksMeshService(
                f"{name}-{spec.name}",
                EksMeshServiceArgs(
                    service=service_args(spec),
                    mesh=own_mesh,
                    kubernetes_namespace=settings.kubernetes_namespace,
                ),
                opts=with_provider,
                start_after=service_dependencies,
                rollout_after=[services[u].deployment for u in waits_for],
            )
        self.services = {spec.name: services[spec.name] for spec in settings.services}
