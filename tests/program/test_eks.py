"""The whole Pulumi program on the ``eks`` topology, under mocks: Pulumi.dev-eks.yaml and the
larger ``shop`` graph. Asserts what is registered and how it is wired, and that every
Kubernetes document registered is the one the pure generators make."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.eks import tempo
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
    for name, inputs in config_maps.items():
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
