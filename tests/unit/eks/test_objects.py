"""The EKS topology's Kubernetes objects: valid for the cluster's Kubernetes version
(kubernetes-validate --strict), wired as the sidecar contract says, and every sidecar bootstrap
accepted by the real Envoy with the very command line the pod runs."""

from __future__ import annotations

import copy
import json
import subprocess

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from components.eks.objects import (
    CHECKSUM_ANNOTATION,
    DEMO_APP_CONFIG_MAP,
    DEMO_APP_HEALTH_PATH,
    ENVOY_CONFIG_DIR,
    ENVOY_CONFIG_KEY,
    MONITORING_NAMESPACE,
    deployment,
    envoy_config_map,
    mesh_objects,
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

SETTINGS = {"dev-eks": stack_settings("dev-eks"),
            "shop": settings_from_config(shop_eks_config())}
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


def test_every_bootstrap_passes_envoy_validate_with_the_pods_command_line(
        settings, envoy_binary, tmp_path):
    for service in settings.services:
        config_map = envoy_config_map(settings, service)
        document = config_map["data"][ENVOY_CONFIG_KEY]
        assert json.loads(document) == envoy_bootstrap(settings, service)
        path = tmp_path / service.name / ENVOY_CONFIG_KEY
        path.parent.mkdir()
        path.write_text(document)
        sidecar = deployment(settings, service, SOURCE)["spec"]["template"]["spec"][
            "initContainers"][0]
        args = [str(path) if a == f"{ENVOY_CONFIG_DIR}/{ENVOY_CONFIG_KEY}" else a
                for a in sidecar["args"]]
        assert str(path) in args
        done = subprocess.run([str(envoy_binary), "--mode", "validate", *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{service.name}: {done.stderr[-2000:]}"
        assert "Deprecated" not in done.stdout + done.stderr


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
        expected_upstreams = ",".join(f"{u}=http://127.0.0.1:{service.egress_port(u)}"
                                      for u in service.upstreams)
        assert env.get("UPSTREAMS", "") == expected_upstreams
        if service.is_load:
            assert float(env["RATE"]) == service.request_rate and "PORT" not in env
            assert "readinessProbe" not in app and "ports" not in app
        else:
            assert env["PORT"] == str(service.app_port) and "RATE" not in env
            assert app["readinessProbe"]["httpGet"] == {"path": DEMO_APP_HEALTH_PATH,
                                                        "port": "app"}
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
    objects = mesh_objects(settings, SOURCE)
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
            assert address["address"] == (f"{target['metadata']['name']}."
                                          f"{target['metadata']['namespace']}.svc.cluster.local")
            assert address["port_value"] == target["spec"]["ports"][0]["port"] == INGRESS_PORT
    for name, service in services.items():
        spec = settings.service(name)
        assert service["spec"]["selector"] == service_labels(settings, spec)
        template = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= template.items()
        assert service["spec"]["ports"][0]["targetPort"] == "envoy-ingress"
    with pytest.raises(ValueError):
        service_object(settings, next(s for s in settings.services if s.is_load))


def test_namespaces_and_the_demo_app_config_map(settings):
    objects = mesh_objects(settings, SOURCE)
    namespaces = _by_kind(objects, "Namespace")
    assert set(namespaces) == {MONITORING_NAMESPACE, settings.kubernetes_namespace}
    labels = namespaces[settings.kubernetes_namespace]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    config_maps = _by_kind(objects, "ConfigMap")
    assert config_maps[DEMO_APP_CONFIG_MAP]["data"] == {"app.py": SOURCE}
    # Namespaces first, then what the pods mount, then the pods.
    kinds = [o["kind"] for o in objects]
    assert kinds[:2] == ["Namespace", "Namespace"]
    assert kinds.index("Deployment") > kinds.index("ConfigMap")


def test_a_changed_configuration_rolls_the_pods():
    settings = SETTINGS["dev-eks"]
    service = settings.service("load-generator")

    def checksum(s, source=SOURCE):
        return deployment(s, s.service("load-generator"), source)["spec"]["template"][
            "metadata"]["annotations"][CHECKSUM_ANNOTATION]

    same = checksum(settings)
    assert checksum(settings) == same
    assert checksum(settings, SOURCE + "\n# changed\n") != same
    assert checksum(settings.model_copy(update={"stats_profile": "full"})) != same
    # The nginx pods run their own image: the demo app's source is not theirs to roll on.
    nginx = settings.service("nginx")
    assert (deployment(settings, nginx, SOURCE)["spec"]["template"]["metadata"]["annotations"]
            == deployment(settings, nginx, "other")["spec"]["template"]["metadata"]["annotations"])
    assert service.uses_demo_app
