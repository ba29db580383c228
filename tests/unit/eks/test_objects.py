"""The EKS topology's Kubernetes objects: valid for the cluster's Kubernetes version
(kubernetes-validate --strict), wired as the sidecar contract says, and every sidecar bootstrap
accepted by the real Envoy with the very command line the pod runs (that one in
tests/consumers/eks/test_objects_envoy.py)."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from components.eks.objects import (
    APP_DRAIN_SECONDS,
    DEMO_APP_HEALTH_PATH,
    DRAIN_PATH,
    ENVOY_CONFIG_DIR,
    MONITORING_NAMESPACE,
    demo_app_config_map_name,
    deployment,
    disruption_budget,
    envoy_config_map,
    service_labels,
    service_object,
)
from components.settings.ports import INGRESS_PORT, METRICS_PORT
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.demo_app import demo_app_source
from components.stack import stack_settings
from meshvis.render.eks import kubernetes_objects
from tests.support.shop_graphs import EKS_PRIVATE_IMAGE as PRIVATE_IMAGE
from tests.support.shop_graphs import shop_eks_config

SETTINGS = {"dev-eks": stack_settings("dev-eks"), "shop": settings_from_config(shop_eks_config())}
SOURCE = demo_app_source()


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def schema_version(eks_version: str) -> str:
    """The kubernetes-validate schema set closest to ``eks_version``: the same minor if it
    ships one, else the newest older one, else (a version older than any it ships) the oldest."""
    shipped = sorted(set(all_versions()), key=_minor)
    older = [v for v in shipped if _minor(v) <= _minor(eks_version)]
    return older[-1] if older else shipped[0]


@pytest.fixture(params=sorted(SETTINGS))
def settings(request):
    return SETTINGS[request.param]


def _by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_schema_version_maps_to_the_closest_shipped_version():
    shipped = sorted(set(all_versions()), key=_minor)
    assert schema_version("1.34") == "1.34.0"
    assert schema_version("1.33.5") == "1.33.0"
    assert schema_version("9.99") == shipped[-1]
    assert schema_version("1.1") == shipped[0]


def test_kubernetes_validate_ships_the_schemas_of_the_versions_we_deploy(settings):
    """The closest-version fallback must not hide a missing schema set for a version in use
    (dev-eks runs the default ``eksVersion``, shop another one)."""
    assert schema_version(settings.eks_version) == f"{settings.eks_version}.0"


def test_every_object_passes_strict_validation(settings):
    version = schema_version(settings.eks_version)
    objects = kubernetes_objects(settings, SOURCE)
    custom = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    # The PrometheusRule's kind is a CRD, which kubernetes-validate has no schema for; its
    # content goes to promtool (tests/unit/dashboards/test_prometheus_rules.py).
    assert [o["kind"] for o in custom] == ["PrometheusRule"]
    validated = 0
    for obj in objects:
        if obj in custom:
            continue
        kubernetes_validate.validate(obj, version, strict=True)
        validated += 1
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ConfigMap", "Deployment", "Service"} <= kinds
    assert validated == len(objects) - 1


def test_strict_validation_catches_a_misspelt_sidecar_field():
    """The consumer is really strict: an unknown key in the native sidecar is refused."""
    settings = SETTINGS["dev-eks"]
    broken = copy.deepcopy(deployment(settings, settings.service("nginx"), SOURCE))
    broken["spec"]["template"]["spec"]["initContainers"][0]["restartPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, schema_version(settings.eks_version), strict=True)


def test_native_sidecar_is_wired_as_the_contract_says(settings):
    for service in settings.services:
        pod = deployment(settings, service, SOURCE)["spec"]["template"]
        spec = pod["spec"]
        assert pod["metadata"]["labels"]["app"] == service.name
        assert pod["metadata"]["labels"]["mesh"] == settings.mesh_name
        [sidecar] = spec["initContainers"]
        [app] = spec["containers"]
        assert sidecar["image"] == settings.envoy_image
        # A native sidecar: restarted with the pod, started (and ready) before the app.
        assert sidecar["restartPolicy"] == "Always"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert sidecar[probe]["httpGet"] == {"path": "/ready", "port": "envoy-metrics"}
        ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
        assert ports["envoy-metrics"] == METRICS_PORT
        assert ports.get("envoy-ingress") == (None if service.is_load else INGRESS_PORT)
        # Security contexts, on the registered pods of every graph: tests/program/test_security.py.
        for container in (sidecar, app):
            assert set(container["resources"]) == {"requests", "limits"}
        mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
        volumes = {v["name"]: v["configMap"]["name"] for v in spec["volumes"]}
        assert mounts == {"envoy-config": ENVOY_CONFIG_DIR}
        assert volumes["envoy-config"] == envoy_config_map(settings, service)["metadata"]["name"]
        assert app["image"] == settings.service_image(service)


def test_demo_app_gets_the_environment_contract(settings):
    for service in (s for s in settings.services if s.uses_demo_app):
        app = deployment(settings, service, SOURCE)["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in app["env"]}
        assert app["command"] == ["python", "/app/app.py"]
        assert env["SERVICE_NAME"] == service.name
        assert env["KIND"] == service.kind
        assert env["HOST"] == "0.0.0.0"
        assert env["INSTANCE"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        expected_upstreams = ",".join(
            f"{u}=http://127.0.0.1:{service.egress_port(u)}" for u in service.upstreams
        )
        assert env.get("UPSTREAMS", "") == expected_upstreams
        if service.is_load:
            assert float(env["RATE"]) == service.request_rate and "PORT" not in env
            assert "readinessProbe" not in app and "ports" not in app
        else:
            assert env["PORT"] == str(service.app_port) and "RATE" not in env
            assert app["readinessProbe"]["httpGet"] == {"path": DEMO_APP_HEALTH_PATH, "port": "app"}
        for key, value in service.env.items():
            assert env[key] == value
        assert {"name": "demo-app", "mountPath": "/app", "readOnly": True} in app["volumeMounts"]


def test_own_images_run_their_own_command_and_env():
    settings = SETTINGS["shop"]
    cart = deployment(settings, settings.service("cart"), SOURCE)["spec"]["template"]["spec"]
    [app] = cart["containers"]
    assert app["image"] == PRIVATE_IMAGE
    assert app["command"] == ["/usr/local/bin/cart", "--listen", ":8080"]
    assert app["env"] == [{"name": "CART_MODE", "value": "fast"}]
    assert app["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "app"}
    assert "volumeMounts" not in app
    assert [v["name"] for v in cart["volumes"]] == ["envoy-config"]
    reviews = deployment(settings, settings.service("reviews"), SOURCE)
    app = reviews["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in app and "env" not in app
    # 256 ECS CPU units are a quarter of a vCPU on both topologies.
    assert app["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}


def test_services_are_the_addresses_the_bootstraps_resolve(settings):
    objects = kubernetes_objects(settings, SOURCE)
    services = _by_kind(objects, "Service")
    deployments = _by_kind(objects, "Deployment")
    assert set(services) == {s.name for s in settings.app_services}
    assert set(deployments) == {s.name for s in settings.services}
    for service in settings.services:
        assert deployments[service.name]["spec"]["replicas"] == service.replicas
        for cluster in envoy_bootstrap(settings, service)["static_resources"]["clusters"]:
            if cluster["name"] not in service.upstreams:
                continue
            [endpoint] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
            address = endpoint["endpoint"]["address"]["socket_address"]
            target = services[cluster["name"]]
            # Fully qualified: the pods' resolv.conf (ndots:5) never tries its search list.
            assert address["address"] == (
                f"{target['metadata']['name']}.{target['metadata']['namespace']}.svc.cluster.local."
            )
            assert address["port_value"] == target["spec"]["ports"][0]["port"] == INGRESS_PORT
    for name, service in services.items():
        spec = settings.service(name)
        # Headless: the name resolves to every ready pod, so each caller's STRICT_DNS cluster
        # has one host per replica (a cluster IP would be one host for the whole service).
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is False
        assert service["spec"]["selector"] == service_labels(settings, spec)
        template = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= template.items()
        assert service["spec"]["ports"][0]["targetPort"] == "envoy-ingress"
    with pytest.raises(ValueError):
        service_object(settings, next(s for s in settings.services if s.is_load))


def test_namespaces_and_the_demo_app_config_map(settings):
    objects = kubernetes_objects(settings, SOURCE)
    namespaces = _by_kind(objects, "Namespace")
    assert set(namespaces) == {MONITORING_NAMESPACE, settings.kubernetes_namespace}
    labels = namespaces[settings.kubernetes_namespace]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    config_maps = _by_kind(objects, "ConfigMap")
    assert config_maps[demo_app_config_map_name(SOURCE)]["data"] == {"app.py": SOURCE}
    # The StorageClass and namespaces first, then what the pods mount, then the pods.
    kinds = [o["kind"] for o in objects]
    assert kinds[:3] == ["StorageClass", "Namespace", "Namespace"]
    assert kinds.index("Deployment") > kinds.index("ConfigMap")


def test_a_changed_configuration_is_a_new_config_map_and_rolls_the_pods():
    settings = SETTINGS["dev-eks"]
    service = settings.service("load-generator")
    assert service.uses_demo_app

    def template(s, source=SOURCE, name="load-generator"):
        return deployment(s, s.service(name), source)["spec"]["template"]

    def mounted(s, source=SOURCE):
        return {v["name"]: v["configMap"]["name"] for v in template(s, source)["spec"]["volumes"]}

    same = mounted(settings)
    assert mounted(settings) == same
    # Content-addressed: another bootstrap or demo app is another ConfigMap, hence another pod
    # template (the pods roll) while the old pods keep the ConfigMap they mounted.
    assert mounted(settings, SOURCE + "\n# changed\n")["demo-app"] != same["demo-app"]
    full = settings.model_copy(update={"stats_profile": "full"})
    assert mounted(full)["envoy-config"] != same["envoy-config"]
    assert mounted(full)["envoy-config"] == envoy_config_map(full, service)["metadata"]["name"]
    assert envoy_config_map(settings, service)["immutable"] is True
    # The nginx pods run their own image: the demo app's source is not theirs to roll on.
    assert template(settings, SOURCE, "nginx") == template(settings, "other", "nginx")


def test_pods_drain_before_they_stop_and_replicated_services_have_a_budget():
    settings = SETTINGS["dev-eks"]
    for service in settings.services:
        pod = deployment(settings, service, SOURCE)["spec"]["template"]["spec"]
        [sidecar], [app] = pod["initContainers"], pod["containers"]
        assert app["lifecycle"]["preStop"] == {"sleep": {"seconds": APP_DRAIN_SECONDS}}
        drain = sidecar["lifecycle"]["preStop"]["exec"]["command"]
        # Both hooks run at deletion: the sidecar's drain must never close its listeners
        # while the app still serves and calls through them.
        assert DRAIN_PATH in drain[-1] and "sleep" not in drain[-1]
        assert "--drain-time-s" in sidecar["args"]
        # The sidecar stops after the app: the app's drain and its own exit fit the grace.
        assert pod["terminationGracePeriodSeconds"] >= APP_DRAIN_SECONDS + 10
        budget = disruption_budget(settings, service)
        if service.replicas > 1:
            assert budget["spec"] == {
                "maxUnavailable": 1,
                "selector": {"matchLabels": service_labels(settings, service)},
            }
        else:
            assert budget is None
