"""The whole mesh on EKS: cluster, monitoring (Prometheus, Grafana), dashboards, alert rules
and one ``EksMeshService`` per service.

What it deploys on the cluster is ``components.eks.documents.stack_documents``, registered as
it is; this module adds the cluster and the wiring: who waits for whom, and the provider.
"""

from __future__ import annotations

import json
from functools import partial

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.eks import storage, tempo
from components.eks.documents import (
    ALERT_RULES_DOCUMENT,
    ALERTMANAGER_CONFIG_DOCUMENT,
    DEMO_APP_DOCUMENT,
    HELM_RELEASE,
    MONITORING_RELEASE_DOCUMENT,
    STORAGE_CLASS_DOCUMENT,
    Document,
    namespace_document,
    stack_documents,
)
from components.eks.iam import (
    NODE_POLICIES,
    managed_policy_arn,
    node_trust_policy,
    service_account_trust_policy,
)
from components.eks.monitoring import (
    grafana_password_command,
    grafana_port_forward,
    prometheus_port_forward,
)
from components.eks.register import program_references, register
from components.eks.service import EksMeshService, EksMeshServiceArgs
from components.network import Vpc, VpcArgs
from components.outputs import declared_outputs
from components.settings.model import Settings
from components.settings.naming import PROJECT
from components.settings.rollout import upstreams_first
from components.settings.service_args import mesh_args, service_args
from components.sidecar.demo_app import demo_app_source

# What a document of the stack waits for besides its namespace, by logical name: the monitoring
# release's Alertmanager reads its configuration Secret, which must exist first; the
# PrometheusRule's kind is defined by the release's CRDs.
WAITS_FOR = {
    MONITORING_RELEASE_DOCUMENT: (ALERTMANAGER_CONFIG_DOCUMENT,),
    ALERT_RULES_DOCUMENT: (MONITORING_RELEASE_DOCUMENT,),
}
# Options of a Helm release beyond its documents, by release name. A Tempo persistence change
# rewrites the StatefulSet's volumeClaimTemplates, which Kubernetes refuses to update, so a Helm
# upgrade would fail: the release is replaced instead (tempo.REPLACE_ON_CHANGES), delete-first
# because the new one takes the same release name.
RELEASE_OPTIONS = {
    tempo.RELEASE_NAME: pulumi.ResourceOptions(
        replace_on_changes=list(tempo.REPLACE_ON_CHANGES), delete_before_replace=True
    )
}


class EksTopology(pulumi.ComponentResource):
    """Every resource of an ``eks`` stack. No App Mesh: each sidecar carries its own bootstrap.

    The nodes run in the private subnets of the mesh's VPC (the same ``Vpc`` component as the
    ECS topology); the cluster uses access entries only (authentication mode ``API``), with
    the node role admitted as ``EC2_LINUX`` and the identity that runs ``pulumi up`` as the
    cluster's creator-administrator.
    """

    kubeconfig: pulumi.Output[str]
    """The cluster's kubeconfig (a secret): how kubectl and other programs reach it."""
    namespace: str
    """The Kubernetes namespace of the mesh's pods."""
    grafana_port_forward: str
    """The command that brings Grafana to http://localhost:3000."""
    grafana_password: str
    """The command that prints Grafana's admin password."""
    prometheus_port_forward: str
    """The command that brings Prometheus to http://localhost:9090."""

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("meshvis:eks:Topology", name, None, opts)
        tags = {f"{PROJECT}:mesh": settings.mesh_name}
        cluster, node_group = self._cluster_and_nodes(name, settings, tags)
        provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cluster.kubeconfig_json,
            # Without it every change to a Secret's data (Alertmanager's configuration) is a
            # delete-then-create: diff.go marks `.data`/`.stringData` of a Secret as
            # replace-on-change unless the provider is built with enableSecretMutable
            # (pulumi-kubernetes provider/pkg/provider/diff.go @94977969d641).
            enable_secret_mutable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        ebs_csi_addon = self._ebs_csi_driver(name, cluster, node_group, tags)
        app_source = demo_app_source()
        documents = stack_documents(settings, app_source, program_references(settings))
        created = self._stack_resources(
            name,
            [d for d in documents if d.service is None],
            pulumi.ResourceOptions(parent=self, provider=provider),
            ebs_csi_addon,
            node_group,
        )
        # Each service's objects wait for the mesh's namespace, the demo app's source (the
        # objects carry their namespace as a plain name, so Pulumi cannot see that dependency
        # by itself) and the nodes: without them, Deployments would time out waiting on pods
        # that cannot be scheduled while the node group is still being created.
        start_after = [
            created[namespace_document(settings.kubernetes_namespace)],
            node_group,
            *([created[DEMO_APP_DOCUMENT]] if DEMO_APP_DOCUMENT in created else []),
        ]
        self._mesh_services(name, settings, provider, start_after)
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.namespace = settings.kubernetes_namespace
        self.grafana_port_forward = grafana_port_forward()
        self.grafana_password = grafana_password_command()
        self.prometheus_port_forward = prometheus_port_forward()
        self.register_outputs(self.stack_outputs())

    def stack_outputs(self) -> dict:
        """What ``pulumi stack output`` shows, the component's registered outputs: how to reach
        the cluster and the dashboards."""
        return declared_outputs(self)

    def _cluster_and_nodes(
        self, name: str, settings: Settings, tags: dict[str, str]
    ) -> tuple[eks.Cluster, eks.ManagedNodeGroup]:
        """The VPC, the EKS cluster and its managed node group with their role."""
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
        cluster = eks.Cluster(
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
        node_group = eks.ManagedNodeGroup(
            f"{name}-nodes",
            # The cluster's core data and the role's ARN rather than the resources themselves:
            # the same wiring, without resource references that Pulumi's unit-test mocks
            # can only rehydrate racily.
            cluster=cluster.core,
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
        return cluster, node_group

    def _ebs_csi_driver(
        self,
        name: str,
        cluster: eks.Cluster,
        node_group: eks.ManagedNodeGroup,
        tags: dict[str, str],
    ) -> eks.Addon:
        """The EBS CSI driver (an EKS add-on, its controller on an IRSA role) that provisions
        the volumes Prometheus, Alertmanager and Tempo claim from the gp3 StorageClass."""
        child = pulumi.ResourceOptions(parent=self)
        namespace, account = storage.EBS_CSI_SERVICE_ACCOUNT
        role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=pulumi.Output.all(
                cluster.oidc_provider_arn, cluster.oidc_issuer
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
        return eks.Addon(
            f"{name}-ebs-csi",
            cluster=cluster,
            addon_name=storage.EBS_CSI_ADDON,
            service_account_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment, node_group]),
        )

    def _stack_resources(
        self,
        name: str,
        documents: list[Document],
        on_cluster: pulumi.ResourceOptions,
        ebs_csi_addon: eks.Addon,
        node_group: eks.ManagedNodeGroup,
    ) -> dict[str, pulumi.CustomResource]:
        """The stack's own documents registered in their apply order, each after what it
        needs; by logical name."""
        created: dict[str, pulumi.CustomResource] = {}
        for document in documents:
            waits: list[pulumi.Resource] = [
                created[other] for other in WAITS_FOR.get(document.name, ())
            ]
            namespace = document.args.get("metadata", {}).get("namespace") or document.args.get(
                "namespace"
            )
            if namespace is not None:
                waits.append(created[namespace_document(namespace)])
            if document.kind == "StorageClass":
                # Its volumes are provisioned by the driver.
                waits.append(ebs_csi_addon)
            if (
                document.kind == "Namespace"
                and document.args["metadata"]["name"] in storage.CLAIM_NAMESPACES
            ):
                # A namespace that holds volume claims is deleted (and waits for its claims to
                # go) before the EBS CSI driver and the StorageClass: `pulumi destroy` deletes
                # dependents first, and with the driver gone first no one deletes the volumes.
                waits += [ebs_csi_addon, created[STORAGE_CLASS_DOCUMENT]]
            options = on_cluster
            if document.kind == HELM_RELEASE:
                # Pods need nodes (Helm would time out waiting on pods that cannot be
                # scheduled while the node group is still being created), and the releases'
                # volume claims the StorageClass and its driver.
                waits += [node_group, created[STORAGE_CLASS_DOCUMENT]]
                extra = RELEASE_OPTIONS.get(document.args["name"])
                options = pulumi.ResourceOptions.merge(options, extra) if extra else options
            created[document.name] = register(
                name,
                document,
                pulumi.ResourceOptions.merge(options, pulumi.ResourceOptions(depends_on=waits)),
            )
        return created

    def _mesh_services(
        self,
        name: str,
        settings: Settings,
        provider: k8s.Provider,
        start_after: list[pulumi.Resource],
    ) -> None:
        """One ``EksMeshService`` per service, each Deployment rolling after its upstreams'."""
        mesh = mesh_args(settings)
        # Each service's objects reach the cluster through its component's provider.
        with_provider = pulumi.ResourceOptions(parent=self, providers=[provider])
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
                start_after=start_after,
                rollout_after=[services[u].deployment for u in waits_for],
            )
