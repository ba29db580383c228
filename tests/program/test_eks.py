"""The whole Pulumi program on the ``eks`` topology, under mocks: Pulumi.dev-eks.yaml and the
larger ``shop`` graph. Asserts what is registered and how it is wired, and that every
Kubernetes document registered is the one the pure generators make."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.eks import storage, tempo
from components.eks.monitoring import (
    CHART,
    CHART_REPOSITORY,
    CHART_VERSION,
    GRAFANA_SERVICE,
    PROMETHEUS_SERVICE,
    RELEASE_NAME,
    monitoring_values,
    prometheus_rule,
)
from components.eks.objects import (
    MONITORING_NAMESPACE,
    demo_app_config_map_name,
    deployment,
    envoy_config_map,
    namespaces,
    service_object,
)
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.demo_app import demo_app_source
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.scrape import kubernetes_scrape_job
from tests.support.pulumi_harness import ProgramRun, run_program
from tests.support.shop_graphs import shop_eks_config

CONFIGS = {"dev-eks": stack_config("dev-eks"), "shop": shop_eks_config()}
K8S_PROVIDER = "pulumi:providers:kubernetes"


class Stack:
    def __init__(self, name: str) -> None:
        self.config = CONFIGS[name]
        self.settings = settings_from_config(self.config)
        self.run = run_program(self.config, name)
        self.mesh = self.settings.mesh_name


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def stack(request) -> Stack:
    return Stack(request.param)


def _k8s(stack: Stack, kind: str) -> dict[str, dict]:
    """Registered Kubernetes resources of ``kind`` by their object name."""
    return {
        r.inputs["metadata"]["name"]: r.inputs
        for r in stack.run.resources
        if r.typ.startswith("kubernetes:") and r.typ.endswith(f":{kind}")
    }


def test_components_and_no_app_mesh(stack):
    run = stack.run
    assert [r.name for r in run.of_type("meshvis:eks:Topology")] == [stack.mesh]
    assert sorted(r.name for r in run.of_type("meshvis:eks:MeshService")) == sorted(
        f"{stack.mesh}-{s.name}" for s in stack.settings.services
    )
    assert not [r for r in run.resources if "appmesh" in r.typ.lower()]
    assert not [r for r in run.resources if r.typ.startswith("aws:ecs")]


def test_cluster_uses_access_entries_and_a_managed_node_group(stack):
    settings, run = stack.settings, stack.run
    [cluster] = run.of_type("eks:index:Cluster")
    role = run.one("aws:iam/role:Role", f"{stack.mesh}-node-role")
    vpc = run.one("aws:ec2/vpc:Vpc", f"{stack.mesh}-net-vpc")
    private = sorted(r.name for r in run.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name)
    assert cluster.inputs["version"] == settings.eks_version
    assert cluster.inputs["authenticationMode"] == "API"
    assert cluster.inputs["skipDefaultNodeGroup"] is True
    assert cluster.inputs["accessEntries"] == {
        "nodes": {
            "principalArn": f"arn:aws:mock:us-west-2:123456789012:role/{role.name}",
            "type": "EC2_LINUX",
        }
    }
    assert cluster.inputs["vpcId"] == f"{vpc.name}-id"
    assert sorted(cluster.inputs["privateSubnetIds"]) == [f"{n}-id" for n in private]
    assert cluster.inputs["nodeAssociatePublicIpAddress"] is False

    [nodes] = run.of_type("eks:index:ManagedNodeGroup")
    assert nodes.inputs["instanceTypes"] == [settings.node_instance_type]
    count = settings.node_count
    assert nodes.inputs["scalingConfig"] == {
        "desiredSize": count,
        "minSize": count,
        "maxSize": count,
    }
    assert nodes.inputs["operatingSystem"] == "AL2023"
    assert nodes.inputs["nodeRoleArn"] == cluster.inputs["accessEntries"]["nodes"]["principalArn"]
    assert sorted(nodes.inputs["subnetIds"]) == [f"{n}-id" for n in private]
    # Joined to this cluster: the node group reads the cluster's core data.
    assert nodes.inputs["cluster"]["endpoint"] == f"https://{cluster.name}.eks.example"
    assert nodes.inputs["cluster"]["vpc_id"] == f"{vpc.name}-id"


# pulumi-eks Cluster inputs whose absence changes what the component does beyond the AWS
# default: with endpointPublicAccess unset the component skips its wait for the API server's
# /healthz (nodejs/eks/cluster/cluster.ts @7bf0c1b17993), so every one is set explicitly.
EXPLICIT_CLUSTER_INPUTS = ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")


def test_the_api_endpoints_are_set_explicitly(stack):
    [cluster] = stack.run.of_type("eks:index:Cluster")
    unset = [k for k in EXPLICIT_CLUSTER_INPUTS if cluster.inputs.get(k) is None]
    assert not unset, f"left to pulumi-eks's defaults: {unset}"
    assert cluster.inputs["endpointPublicAccess"] is True
    assert cluster.inputs["endpointPrivateAccess"] is True
    assert cluster.inputs["publicAccessCidrs"] == list(stack.settings.api_access_cidrs)


def test_every_kubernetes_resource_goes_through_the_clusters_provider(stack):
    [provider] = stack.run.of_type(K8S_PROVIDER)
    assert provider.inputs["kubeconfig"] == '{"apiVersion": "v1", "kind": "Config"}'
    k8s = [r for r in stack.run.resources if r.typ.startswith("kubernetes:")]
    assert len(k8s) >= 8
    for resource in k8s:
        assert resource.provider and f"{K8S_PROVIDER}::{provider.name}::" in resource.provider, (
            resource.name
        )


def test_namespaces(stack):
    assert _k8s(stack, "Namespace") == {
        o["metadata"]["name"]: o for o in namespaces(stack.settings)
    }


def _release(stack, name: str):
    [release] = [
        r for r in stack.run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == name
    ]
    return release


def test_monitoring_release(stack):
    release = _release(stack, RELEASE_NAME)
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"], inputs["name"]) == (
        CHART,
        CHART_VERSION,
        RELEASE_NAME,
    )
    assert inputs["repositoryOpts"] == {"repo": CHART_REPOSITORY}
    assert inputs["namespace"] == MONITORING_NAMESPACE
    assert inputs["values"] == monitoring_values(stack.settings)
    spec = inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["additionalScrapeConfigs"] == [
        kubernetes_scrape_job(stack.settings.kubernetes_namespace)
    ]
    assert spec["retention"] and spec["resources"]["requests"]
    assert inputs["values"]["grafana"]["sidecar"]["dashboards"]["enabled"] is True


def test_tempo_release_and_its_network_policy(stack):
    """With tracing (the default) Tempo runs beside kube-prometheus-stack and only the mesh's
    spans and Grafana's queries reach it; without it neither exists."""
    release = _release(stack, tempo.RELEASE_NAME)
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"]) == (tempo.CHART, tempo.CHART_VERSION)
    assert inputs["repositoryOpts"] == {"repo": tempo.CHART_REPOSITORY}
    assert inputs["namespace"] == MONITORING_NAMESPACE
    assert inputs["values"] == tempo.tempo_values()
    [policy] = [
        p
        for p in stack.run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["metadata"]["name"] == tempo.NETWORK_POLICY
    ]
    assert policy.inputs == tempo.tempo_network_policy(stack.settings)
    config = {**stack.config, "mesh-visibility:tracing": "false"}
    off = run_program(config, "no-tracing")
    assert [r.inputs["name"] for r in off.of_type("kubernetes:helm.sh/v3:Release")] == [
        RELEASE_NAME
    ]


def test_dashboards_and_alert_rules(stack):
    config_maps = _k8s(stack, "ConfigMap")
    dashboards = grafana_dashboards(stack.settings)
    shipped = {}
    for inputs in config_maps.values():
        if inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            assert inputs["metadata"]["namespace"] == MONITORING_NAMESPACE
            [(filename, text)] = inputs["data"].items()
            shipped[filename] = json.loads(text)
    assert shipped == dashboards
    [rule] = stack.run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert rule.inputs == prometheus_rule(stack.settings)


def test_a_deployment_config_map_and_service_per_service(stack):
    settings = stack.settings
    source = demo_app_source()
    config_maps, deployments, services = (
        _k8s(stack, kind) for kind in ("ConfigMap", "Deployment", "Service")
    )
    assert set(deployments) == {s.name for s in settings.services}
    assert set(services) == {s.name for s in settings.app_services}
    for spec in settings.services:
        # Registered exactly as the pure generators make them (what `meshvis render` writes
        # and kubernetes-validate checks).
        config = envoy_config_map(settings, spec)
        assert config_maps[config["metadata"]["name"]] == config
        assert deployments[spec.name] == deployment(settings, spec, source)
        pod = deployments[spec.name]["spec"]["template"]["spec"]
        [sidecar] = pod["initContainers"]
        assert sidecar["restartPolicy"] == "Always"
        assert sidecar["startupProbe"]["httpGet"] == {"path": "/ready", "port": "envoy-metrics"}
        assert {"name": "envoy-config", "configMap": {"name": config["metadata"]["name"]}} in pod[
            "volumes"
        ]
        if not spec.is_load:
            assert services[spec.name] == service_object(settings, spec)
    demo = [s for s in settings.services if s.uses_demo_app]
    assert (demo_app_config_map_name(source) in config_maps) == bool(demo)
    if demo:
        assert config_maps[demo_app_config_map_name(source)]["data"] == {"app.py": source}


def test_stack_outputs(stack):
    outputs = stack.run.outputs
    assert outputs["kubeconfig"] == '{"apiVersion": "v1", "kind": "Config"}'
    assert outputs["grafanaPortForward"] == (
        f"kubectl --namespace {MONITORING_NAMESPACE} port-forward svc/{GRAFANA_SERVICE} 3000:80"
    )
    assert outputs["prometheusPortForward"] == (
        f"kubectl --namespace {MONITORING_NAMESPACE} port-forward svc/{PROMETHEUS_SERVICE} "
        "9090:9090"
    )
    assert GRAFANA_SERVICE in outputs["grafanaPassword"]
    assert outputs["namespace"] == stack.settings.kubernetes_namespace


@pytest.mark.parametrize("namespace", ["monitoring", "kube-system"])
def test_a_reserved_namespace_stops_the_program_before_any_resource(namespace):
    run = ProgramRun()
    with pytest.raises(pulumi.RunError) as error:
        run_program(shop_eks_config(kubernetesNamespace=namespace), "bad", run=run)
    assert str(error.value).startswith(
        f"mesh-visibility:kubernetesNamespace: {namespace!r} is reserved"
    )
    assert run.resources == []


def test_prometheus_and_tempo_keep_their_data_on_ebs_volumes(stack):
    """The EBS CSI add-on on a role only its controller's service account may assume (IRSA),
    the gp3 StorageClass the pure generator makes, and both releases after it."""
    run, mesh = stack.run, stack.mesh
    [cluster] = run.of_type("eks:index:Cluster")
    assert cluster.inputs["createOidcProvider"] is True
    role = run.one("aws:iam/role:Role", f"{mesh}-ebs-csi-role")
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = f"oidc.eks.us-west-2.amazonaws.com/id/{cluster.name.upper()}"
    assert statement["Principal"] == {
        "Federated": f"arn:aws:iam::123456789012:oidc-provider/{issuer}"
    }
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    policy = run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"{mesh}-ebs-csi-policy")
    assert policy.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicyV2"
    )
    addon = run.one("eks:index:Addon", f"{mesh}-ebs-csi")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert (
        addon.inputs["serviceAccountRoleArn"]
        == f"arn:aws:mock:us-west-2:123456789012:role/{role.name}"
    )
    [storage_class] = _k8s(stack, "StorageClass").values()
    expected = storage.storage_class()
    assert {k: storage_class.get(k) for k in expected if k not in ("apiVersion", "kind")} == {
        k: v for k, v in expected.items() if k not in ("apiVersion", "kind")
    }
    key = ("kubernetes:storage.k8s.io/v1:StorageClass", f"{mesh}-storage-class")
    assert ("eks:index:Addon", addon.name) in run.options[key].dependencies
    for release in run.of_type("kubernetes:helm.sh/v3:Release"):
        assert key in run.options[(release.typ, release.name)].dependencies, release.name


def _depends_on(run: ProgramRun, key: tuple[str, str], target: tuple[str, str]) -> bool:
    """Whether ``key`` depends on ``target``, directly or through its dependencies (what
    orders ``pulumi destroy``: dependents are deleted first)."""
    seen, todo = set(), [key]
    while todo:
        current = todo.pop()
        for dep in run.options[current].dependencies:
            if dep == target:
                return True
            if dep not in seen and dep in run.options:
                seen.add(dep)
                todo.append(dep)
    return False


def test_destroy_deletes_every_claim_before_the_ebs_driver_and_the_storage_class(stack):
    """The namespaces whose pods claim volumes depend on the add-on and the StorageClass, so
    `pulumi destroy` deletes them (and waits for their claims) first; the claims of Tempo's
    StatefulSet go with it (persistentVolumeClaimRetentionPolicy Delete)."""
    run, mesh = stack.run, stack.mesh
    addon = ("eks:index:Addon", f"{mesh}-ebs-csi")
    storage_class = ("kubernetes:storage.k8s.io/v1:StorageClass", f"{mesh}-storage-class")
    claims = {
        "Prometheus": monitoring_values(stack.settings)["prometheus"]["prometheusSpec"],
        "Alertmanager": monitoring_values(stack.settings)["alertmanager"]["alertmanagerSpec"],
    }
    assert claims["Prometheus"]["storageSpec"]["volumeClaimTemplate"]
    assert claims["Alertmanager"]["storage"]["volumeClaimTemplate"]
    assert MONITORING_NAMESPACE in storage.CLAIM_NAMESPACES
    for namespace in run.of_type("kubernetes:core/v1:Namespace"):
        key = (namespace.typ, namespace.name)
        holds_claims = namespace.inputs["metadata"]["name"] in storage.CLAIM_NAMESPACES
        for target in (addon, storage_class):
            assert _depends_on(run, key, target) == holds_claims, (namespace.name, target)
    assert tempo.tempo_values()["persistence"]["enableStatefulSetAutoDeletePVC"] is True


def test_the_kubernetes_provider_updates_secrets_in_place(stack):
    """Without enableSecretMutable every change of the Alertmanager Secret's data would be a
    delete-then-create (pulumi-kubernetes provider/pkg/provider/diff.go @94977969d641)."""
    [provider] = stack.run.of_type(K8S_PROVIDER)
    assert provider.inputs["enableSecretMutable"] in (True, "true")


def test_a_tempo_persistence_change_replaces_the_release_delete_first(stack):
    """An update of the StatefulSet's volumeClaimTemplates is forbidden: the release is
    replaced, under the same name, so the old one goes first."""
    if not stack.settings.tracing:
        pytest.skip("no Tempo without tracing")
    release = _release(stack, tempo.RELEASE_NAME)
    options = stack.run.options[(release.typ, release.name)]
    assert options.replace_on_changes == tempo.REPLACE_ON_CHANGES == ("values.persistence",)
    assert options.delete_before_replace is True
    assert set(release.inputs["values"]["persistence"]) >= {"enabled", "size", "storageClassName"}
