"""The Kubernetes objects of the EKS topology, as plain dicts (apiVersion/kind/metadata/spec).

Pure functions of the settings: the Pulumi components register them as they are, ``meshvis
render`` writes them as YAML, and the tests hand them to ``kubernetes-validate --strict``.

Each service is a Deployment whose pods run the app next to an Envoy sidecar, a ConfigMap
with that sidecar's bootstrap (the very document ECS passes on the command line), and a
headless Service on the sidecar's ingress port 15000 (none for load generators), so that
``<service>.<namespace>.svc.cluster.local.:15000``, the address every upstream cluster of
the bootstraps resolves, reaches each ready sidecar of that service.
"""

from __future__ import annotations

import hashlib
import json

from components.settings.model import ServiceSpec, Settings
from components.settings.naming import PROJECT
from components.settings.ports import ADMIN_PORT, INGRESS_PORT, METRICS_PORT
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.command import admin_command_script, envoy_command
from components.sidecar.demo_app import demo_app_environment
from dashboards.prometheus.scrape import METRICS_PORT_NAME

MONITORING_NAMESPACE = "monitoring"
PART_OF = PROJECT
DEMO_APP_CONFIG_MAP_PREFIX = "demo-app"
DEMO_APP_DIR = "/app"
DEMO_APP_KEY = "app.py"
# The demo app's own health endpoint: a probe on "/" of a service with upstreams would call
# them, and one slow upstream would take every caller out of its Service.
DEMO_APP_HEALTH_PATH = "/health"
ENVOY_CONFIG_DIR = "/etc/envoy"
ENVOY_CONFIG_KEY = "envoy.json"
INGRESS_PORT_NAME = "envoy-ingress"
APP_PORT_NAME = "app"
# The `envoy` user of the official Envoy image; the demo app runs as an unprivileged uid
# that the Python image does not need to know.
ENVOY_UID = 101
DEMO_APP_UID = 10001
# Envoy measured (bench/sidecar_overhead.py): 64-67 MiB resident, 0.5-0.6 vCPU per 1000
# requests/s passed on. The request covers its resident size and about 90 requests/s; the
# limits leave 4x the memory and room for bursts near 1000 requests/s.
ENVOY_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "96Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
# Termination, a pod at a time on rollout and node drain. The kubelet runs every container's
# preStop hook at once when the pod is deleted, and holds only the native sidecar's SIGTERM
# back until the app has exited (kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go
# killContainer @fbba6b47: hook first, then the termination-order wait). So at deletion the
# app keeps serving for APP_DRAIN_SECONDS while the pod leaves its headless Service (callers'
# STRICT_DNS clusters stop resolving it within the cluster DNS TTL and their refresh), and the
# sidecar's hook starts a drain that never closes its listeners
# (DRAIN_PATH: keep-alive callers are told to close and reconnect elsewhere, the app's egress
# listeners keep working); the sidecar stops once the app is gone.
# The grace period covers the app's drain with room for its own shutdown.
APP_DRAIN_SECONDS = 10
ENVOY_DRAIN_SECONDS = 5
TERMINATION_GRACE_SECONDS = 30
# The part of a content-addressed name that is the content's SHA-256: distinct for distinct
# contents, and short enough for the 63-character names.
CONTENT_HASH_LENGTH = 10
# `graceful` starts Envoy's drain sequence (every connection told to close), `skip_exit` keeps
# the listeners open once it ends. `skip_exit` alone is refused with a 400 "skip_exit requires
# graceful" unless the runtime guard non_graceful_drain_notifies_connections is on
# (envoyproxy/envoy source/server/admin/listeners_handler.cc, handlerDrainListeners); Envoy
# Gateway's shutdown manager sends the same pair (envoyproxy/gateway internal/cmd/envoy/
# shutdown_manager.go @fbc86faa0eca). The hook fails visibly on anything but a 200.
DRAIN_PATH = "/drain_listeners?graceful&skip_exit"


def service_labels(settings: Settings, service: ServiceSpec) -> dict[str, str]:
    """The labels that select a service's pods (and name it in the scrape job)."""
    return {"app": service.name, "mesh": settings.mesh_name}


def metadata(
    name: str,
    namespace: str | None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict:
    metadata: dict = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = {"app.kubernetes.io/part-of": PART_OF, **(labels or {})}
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def namespaces(settings: Settings) -> list[dict]:
    """The monitoring namespace and the mesh's namespace.

    The mesh's pods meet the ``restricted`` Pod Security Standard, so the namespace enforces
    it: a service image that insists on running as root is refused at admission with a clear
    reason rather than running with more privilege than the mesh needs. The monitoring
    namespace holds node-exporter, which needs host access, so it keeps the cluster default.
    """
    restricted = {
        f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(MONITORING_NAMESPACE, None)},
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": metadata(
                settings.kubernetes_namespace, None, {"mesh": settings.mesh_name, **restricted}
            ),
        },
    ]


NETWORK_POLICY = "envoy-ports-only"


def network_policy(settings: Settings) -> dict:
    """What may reach the mesh's pods: the mesh's own pods on the sidecars' ingress port 15000
    and the monitoring namespace (Prometheus) on their metrics port 9902, nothing else.

    The app port (which the kubelet's probes need bound beyond loopback) and every other port
    are closed to other pods; traffic from the node itself (the probes) is always allowed.
    Enforced by the VPC CNI's network policy agent, which the cluster enables.
    """
    mesh_pods = {"matchLabels": {"mesh": settings.mesh_name}}
    monitoring = {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(
            NETWORK_POLICY, settings.kubernetes_namespace, {"mesh": settings.mesh_name}
        ),
        "spec": {
            "podSelector": mesh_pods,
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": mesh_pods}],
                    "ports": [{"protocol": "TCP", "port": INGRESS_PORT}],
                },
                {
                    "from": [{"namespaceSelector": monitoring}],
                    "ports": [{"protocol": "TCP", "port": METRICS_PORT}],
                },
            ],
        },
    }


def content_name(prefix: str, content: str) -> str:
    """``<prefix>-<SHA-256 of content, CONTENT_HASH_LENGTH hex digits>``.

    The ConfigMaps that pods mount are named by their content and immutable: a changed
    document is a new ConfigMap, created before the Deployment that references it rolls, while
    the old pods keep the one they mounted until they are gone (pulumi-kubernetes replaces an
    object whose name changes create-before-delete, and deletes the old one only at the end of
    the update). A fixed name would be replaced delete-first, and a pod scheduled in that gap
    could not start. The name is also what rolls the pods: the pod template changes with it.
    """
    return f"{prefix}-{hashlib.sha256(content.encode()).hexdigest()[:CONTENT_HASH_LENGTH]}"


def _bootstrap_document(settings: Settings, service: ServiceSpec) -> str:
    return json.dumps(envoy_bootstrap(settings, service), indent=2, sort_keys=True)


def envoy_config_map_name(settings: Settings, service: ServiceSpec) -> str:
    """The name of ``service``'s bootstrap ConfigMap (``<service>-envoy-<content hash>``)."""
    return content_name(f"{service.name}-envoy", _bootstrap_document(settings, service))


def envoy_config_map(settings: Settings, service: ServiceSpec) -> dict:
    """The ConfigMap holding ``service``'s sidecar bootstrap (JSON, which Envoy reads as YAML);
    immutable and named by its content."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            envoy_config_map_name(settings, service),
            settings.kubernetes_namespace,
            service_labels(settings, service),
        ),
        "immutable": True,
        "data": {ENVOY_CONFIG_KEY: _bootstrap_document(settings, service)},
    }


def demo_app_config_map_name(source: str) -> str:
    """The name of the demo app's ConfigMap (``demo-app-<content hash>``)."""
    return content_name(DEMO_APP_CONFIG_MAP_PREFIX, source)


def demo_app_config_map(settings: Settings, source: str) -> dict:
    """The ConfigMap that ships the demo app's source to the pods that run it; immutable and
    named by its content."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            demo_app_config_map_name(source),
            settings.kubernetes_namespace,
            {"mesh": settings.mesh_name},
        ),
        "immutable": True,
        "data": {DEMO_APP_KEY: source},
    }


def _millicores(cpu_units: int) -> str:
    # ECS CPU units (1024 per vCPU) as Kubernetes millicores, so one `cpu` means the same
    # share of a machine on both topologies.
    return f"{cpu_units * 1000 // 1024}m"


def _restricted_container(run_as_user: int | None, read_only_root: bool) -> dict:
    context: dict = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": read_only_root,
    }
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
        context["runAsGroup"] = run_as_user
    return context


def _http_probe(path: str, port: str, period: int, failures: int) -> dict:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _envoy_container(settings: Settings, service: ServiceSpec) -> dict:
    """The sidecar as a native sidecar: an init container with ``restartPolicy: Always``.

    Kubernetes starts the app container only once the sidecar's startup probe has passed,
    so the app's first call to its egress listener finds Envoy ready, and stops the sidecar
    only after the app has exited, so in-flight calls drain.
    """
    # The drain the preStop hook starts: every response says `connection: close` at once
    # (Envoy's default is a gradual drain over 600 s, which would tell almost no caller before
    # the app stops); the listeners stay open until SIGTERM.
    command = envoy_command(
        config_path=f"{ENVOY_CONFIG_DIR}/{ENVOY_CONFIG_KEY}",
        extra=["--drain-strategy", "immediate", "--drain-time-s", str(ENVOY_DRAIN_SECONDS)],
    )
    ports = [{"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT, "protocol": "TCP"}]
    if not service.is_load:
        ports.insert(
            0, {"name": INGRESS_PORT_NAME, "containerPort": INGRESS_PORT, "protocol": "TCP"}
        )
    return {
        "name": "envoy",
        "image": settings.envoy_image,
        "restartPolicy": "Always",
        "command": command[:1],
        "args": command[1:],
        "ports": ports,
        "startupProbe": _http_probe("/ready", METRICS_PORT_NAME, period=1, failures=30),
        "readinessProbe": _http_probe("/ready", METRICS_PORT_NAME, period=5, failures=3),
        "livenessProbe": _http_probe("/ready", METRICS_PORT_NAME, period=10, failures=3),
        "resources": ENVOY_RESOURCES,
        "securityContext": _restricted_container(ENVOY_UID, read_only_root=True),
        "volumeMounts": [{"name": "envoy-config", "mountPath": ENVOY_CONFIG_DIR, "readOnly": True}],
        # Runs when the pod is deleted, next to the app's (see TERMINATION_GRACE_SECONDS).
        "lifecycle": {
            "preStop": {
                "exec": {
                    "command": [
                        "/bin/bash",
                        "-c",
                        admin_command_script("POST", DRAIN_PATH, ADMIN_PORT),
                    ]
                }
            }
        },
    }


def _demo_app_env(service: ServiceSpec) -> list[dict]:
    # 0.0.0.0: the kubelet's readiness probe comes from the node, not from the pod's loopback.
    env = {
        **demo_app_environment(service, "0.0.0.0"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    variables: list[dict[str, object]] = [{"name": k, "value": v} for k, v in env.items()]
    # The pod name tells the replicas apart in answers and logs.
    variables.append(
        {"name": "INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    )
    return variables


def _app_container(settings: Settings, service: ServiceSpec) -> dict:
    container: dict = {
        "name": "app",
        "image": settings.service_image(service),
        "resources": {
            "requests": {"cpu": _millicores(service.cpu), "memory": f"{service.memory}Mi"},
            "limits": {"cpu": _millicores(2 * service.cpu), "memory": f"{service.memory}Mi"},
        },
    }
    if service.uses_demo_app:
        container["command"] = ["python", f"{DEMO_APP_DIR}/{DEMO_APP_KEY}"]
        container["env"] = _demo_app_env(service)
        container["volumeMounts"] = [
            {"name": "demo-app", "mountPath": DEMO_APP_DIR, "readOnly": True}
        ]
        container["securityContext"] = _restricted_container(DEMO_APP_UID, read_only_root=True)
    else:
        if service.command:
            container["command"] = list(service.command)
        if service.env:
            container["env"] = [{"name": k, "value": v} for k, v in service.env.items()]
        # The image's own user, which must not be root; its files may need writing (nginx).
        container["securityContext"] = _restricted_container(None, read_only_root=False)
    # Keeps serving while the pod leaves DNS (a kubelet action: no binary needed in the image).
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": APP_DRAIN_SECONDS}}}
    if not service.is_load:
        container["ports"] = [
            {"name": APP_PORT_NAME, "containerPort": service.app_port, "protocol": "TCP"}
        ]
        path = DEMO_APP_HEALTH_PATH if service.uses_demo_app else service.health_path
        container["readinessProbe"] = _http_probe(path, APP_PORT_NAME, period=5, failures=3)
    return container


def deployment(settings: Settings, service: ServiceSpec, app_source: str) -> dict:
    """The Deployment of ``service``: ``replicas`` pods of the app plus its Envoy sidecar.

    ``app_source`` is the demo app's source (see ``components.sidecar.demo_app.demo_app_source``).
    The pods mount the ConfigMaps by their content-addressed names, so a changed bootstrap or
    demo app changes the pod template and rolls the pods (``content_name``).
    """
    labels = service_labels(settings, service)
    volumes: list[dict] = [
        {"name": "envoy-config", "configMap": {"name": envoy_config_map_name(settings, service)}}
    ]
    if service.uses_demo_app:
        volumes.append(
            {"name": "demo-app", "configMap": {"name": demo_app_config_map_name(app_source)}}
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(service.name, settings.kubernetes_namespace, labels),
        "spec": {
            "replicas": service.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/part-of": PART_OF, **labels}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "initContainers": [_envoy_container(settings, service)],
                    "containers": [_app_container(settings, service)],
                    "volumes": volumes,
                },
            },
        },
    }


def service_object(settings: Settings, service: ServiceSpec) -> dict:
    """The headless Service on the sidecars' ingress port; its DNS name is the upstreams'
    address.

    Headless (``clusterIP: None``), its name resolves to the IP of every READY pod, so each
    caller's STRICT_DNS cluster has one host per replica: ``membership_healthy`` and
    ``membership_total`` count replicas, outlier detection ejects one bad pod rather than the
    whole service, and requests spread over the pods. (Through a cluster IP every sidecar
    would see one host, and keep-alive would pin each caller to one pod.) Pods that are not
    ready stay out of the answers (``publishNotReadyAddresses: false``, said explicitly
    because the alert rules and the host counts rely on it).
    """
    if service.is_load:
        raise ValueError(f"{service.name!r} is a load generator and has no ingress")
    labels = service_labels(settings, service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(service.name, settings.kubernetes_namespace, labels),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "publishNotReadyAddresses": False,
            "selector": labels,
            "ports": [
                {
                    "name": "http",
                    "port": INGRESS_PORT,
                    "targetPort": INGRESS_PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def disruption_budget(settings: Settings, service: ServiceSpec) -> dict | None:
    """At most one pod of ``service`` voluntarily evicted at a time (node drains, cluster
    upgrades), for a service with more than one replica; None for a single replica, which a
    budget would only make undrainable."""
    if service.replicas < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(
            service.name, settings.kubernetes_namespace, service_labels(settings, service)
        ),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": service_labels(settings, service)},
        },
    }


def service_objects(settings: Settings, service: ServiceSpec, app_source: str) -> list[dict]:
    """ConfigMap, Deployment, (for apps) Service and (with replicas) PodDisruptionBudget of one
    service, in apply order."""
    objects = [envoy_config_map(settings, service), deployment(settings, service, app_source)]
    if not service.is_load:
        objects.append(service_object(settings, service))
    budget = disruption_budget(settings, service)
    if budget is not None:
        objects.append(budget)
    return objects


def demo_app_objects(settings: Settings, app_source: str) -> list[dict]:
    """The demo app's ConfigMap if any service runs the demo app, else nothing."""
    if any(s.uses_demo_app for s in settings.services):
        return [demo_app_config_map(settings, app_source)]
    return []
