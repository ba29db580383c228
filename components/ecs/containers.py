"""The Fargate task of one service: its three containers and the task size, as plain data.

The app (the built-in demo app or the service's own image), the Envoy sidecar carrying its
bootstrap as ``--config-yaml``, and the CloudWatch agent sidecar receiving Envoy's DogStatsD
on 127.0.0.1:8125. The documents use the ECS API's own field names, so the very dict a
component registers is what tests hand to botocore's ``RegisterTaskDefinition`` model.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from components.ecs.agent import cloudwatch_agent_config
from components.settings.model import ServiceSpec, Settings
from components.settings.naming import log_group_name
from components.settings.ports import ADMIN_PORT, INGRESS_PORT, METRICS_PORT
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.command import admin_request_script, envoy_command
from components.sidecar.demo_app import app_health_path, demo_app_environment, demo_app_source

APP = "app"
ENVOY = "envoy"
AGENT = "cloudwatch-agent"
CONTAINERS = (APP, ENVOY, AGENT)


# Reservations of the sidecars, in CPU units (1024 = 1 vCPU) and MiB, from measurements
# (bench/sidecar_overhead.py, docs/measurements.md). Envoy 1.40 with one worker and
# the essential stats holds 64-67 MiB resident (14-16 MiB of it anonymous) from idle to 600
# requests/s, and uses 0.5-0.6 vCPU per 1000 requests/s it passes on: 128 MiB is twice its
# resident size, 128 units carry about 200 requests/s. The agent could not be measured here:
# published sidecar figures range from 64 MiB (AWS CDK's CloudWatch agent sidecar example) to
# 200 MiB (Container Insights' DaemonSet request, which also collects node metrics); ours only
# aggregates DogStatsD and calls PutMetricData once a minute, so 128 MiB. With the default
# app (256/512) the task is 0.5 vCPU / 1 GiB on Fargate (the App Mesh walkthrough's 512 MiB
# agent made it 2 GiB).
# Reservations, not hard limits: the containers share whatever the task's Fargate size adds
# on top of their sum, and only the task as a whole is capped.
ENVOY_CPU = 128
ENVOY_MEMORY = 128
AGENT_CPU = 64
AGENT_MEMORY = 128

# The upstream image creates the `envoy` system user and group (uid/gid 101) on Ubuntu and
# the task starts the sidecar as that user. The image's entrypoint switches to `envoy` itself
# (chown of /dev/stdout, then su-exec) unless ENVOY_UID is 0; with 0 it execs Envoy as the user
# it was started as. Newer entrypoints also skip the switch when not root, older ones fail.
ENVOY_USER = "101:101"
ENVOY_ENVIRONMENT = {"ENVOY_UID": "0"}
# `nobody`: the demo app writes nothing and listens above 1024.
DEMO_APP_USER = "65534:65534"
# Envoy's overload manager caps downstream connections at 10000 and each proxied request also
# holds an upstream socket: 65535 (Fargate's default, written out so it is reviewed next to
# that cap) leaves ample headroom.
NOFILE_LIMIT = 65535

# Valid Fargate (cpu units -> memory MiB) combinations for Linux tasks.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


@dataclass(frozen=True)
class HealthProbe:
    """What one container's ECS health check asks for: ``GET path`` on 127.0.0.1:``port``."""

    container: str
    port: int
    path: str


# Every container health check's timing. ECS takes a task out of Cloud Map, and replaces it,
# once one essential container is UNHEALTHY: ``retries`` failures in a row (the task's
# healthStatus is UNHEALTHY when any essential container's is; "For tasks that are part of a
# service, if the task reports as unhealthy then the task will be stopped and the service
# scheduler will replace it": ECS API Reference, HealthCheck).
HEALTH_CHECK_TIMING = {"interval": 5, "timeout": 3, "retries": 3, "startPeriod": 10}
# Failures during the start period do not count, and a passing check ends it at once: an image
# of the user's own (a JVM, say) gets a minute to start, as the load balancer gives the entry
# (LB_GRACE_SECONDS), instead of the demo app's 10 s.
OWN_IMAGE_START_PERIOD = 60
READY_PATH = "/ready"


def health_probes(service: ServiceSpec) -> list[HealthProbe]:
    """The health checks of a service's task: Envoy's ``/ready`` on its admin port and, for a
    service that accepts requests, the app's health path on the app's port. Both containers
    are essential, so a hung app takes its task out of DNS just as a failed sidecar does."""
    probes = [HealthProbe(ENVOY, ADMIN_PORT, READY_PATH)]
    if not service.is_load and service.health_check:
        probes.append(HealthProbe(APP, service.app_port, app_health_path(service)))
    return probes


def app_health_command(service: ServiceSpec) -> list[str]:
    """ECS health check of the app container: its health path on 127.0.0.1; a status of 400
    and above, or no answer, fails the check (curl -f passes a 3xx without following it, wget
    follows it).

    The demo app's image is Python's: a one-line urllib call (urlopen raises on a status of
    400 and above and on a refused connection). An image of the user's own is checked with
    curl, or wget when it has no curl, through its ``/bin/sh``: it must have one of them
    (docs/day-2.md "Changes that need care"; busybox's wget counts), or the service sets
    ``healthCheck: false`` and has no app check at all.
    """
    url = f"http://127.0.0.1:{service.app_port}{app_health_path(service)}"
    if service.uses_demo_app:
        return ["CMD", "python", "-c", f"import urllib.request as u; u.urlopen({url!r}, timeout=2)"]
    quoted = shlex.quote(url)
    return [
        "CMD-SHELL",
        f"curl -fsS -o /dev/null --max-time 2 {quoted} || wget -q -O /dev/null -T 2 {quoted}",
    ]


def envoy_health_command(admin_port: int = ADMIN_PORT) -> list[str]:
    """ECS health check of the sidecar: ``GET /ready`` on the loopback admin port, which
    answers 200 only once Envoy has initialised its listeners and clusters."""
    script = (
        admin_request_script("GET", READY_PATH, "Connection: close", admin_port)
        + " && [[ $status == 'HTTP/1.1 200 '* ]]"
    )
    return ["CMD", "bash", "-c", script]


def ecs_exec_enabled(service: ServiceSpec) -> bool:
    """Whether ``service``'s tasks can be entered with ECS Exec (``aws ecs execute-command``):
    only a service with ``faults``, a staging game-day service whose sidecar's faults are
    changed at run time through Envoy's loopback admin interface from inside the task
    (docs/faults.md). Every other service keeps ECS Exec off, its task role without the
    Session Manager permissions and its sidecar's root file system read-only."""
    return service.faults is not None


def container_definitions(settings: Settings, service: ServiceSpec) -> list[dict]:
    """The task's containers in ECS ``ContainerDefinition`` form: app, Envoy, agent.

    Start order: agent, then Envoy, then the app once Envoy reports healthy, so the app's first
    request already has its egress listeners and the first stats flush has a receiver. ECS
    stops them in reverse, so Envoy flushes its last stats before the agent goes.
    """
    return [_app(settings, service), _envoy(settings, service), _agent(settings, service)]


def task_definition(settings: Settings, service: ServiceSpec) -> dict:
    """The ``RegisterTaskDefinition`` request of ``service`` without its two role ARNs."""
    containers = container_definitions(settings, service)
    cpu, memory = fargate_size(
        sum(c["cpu"] for c in containers), sum(c["memoryReservation"] for c in containers)
    )
    return {
        "family": f"{settings.mesh_name}-{service.name}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(cpu),
        "memory": str(memory),
        # `cpuArchitecture`: ARM64 (Graviton) unless a user's own image is built for x86 only.
        "runtimePlatform": {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": settings.cpu_architecture,
        },
        "containerDefinitions": containers,
    }


# The capacity providers a cluster must have associated before a service can name one of them
# (ECS PutClusterCapacityProviders); AWS owns both.
FARGATE_CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
# Every Linux capability dropped, and `add` written out empty: ECS returns the stored container
# definitions with `"add": []`, and the provider compares them with ours as JSON
# (containerDefinitionsAreEquivalent in internal/service/ecs/container_definitions.go @108f85fd
# normalises nothing under linuxParameters), so a missing list would make every plan replace the
# task definition (observed: braintrustdata/terraform-aws-braintrust-data-plane PR #335).
LINUX_PARAMETERS = {"capabilities": {"add": [], "drop": ["ALL"]}}


def service_placement(settings: Settings) -> dict:
    """Where an ECS service runs its tasks, in ``CreateService``'s own fields: always a
    capacity provider strategy, ``FARGATE`` or with ``fargateSpot`` ``FARGATE_SPOT``. Never
    ``launchType``: switching between the two fields replaces the service (``launch_type`` is
    ForceNew in the Terraform AWS provider), while one strategy changed to another is an update
    in place (with ``force_new_deployment``, which the provider requires for it:
    ``capacityProviderStrategyCustomizeDiff`` in internal/service/ecs/service.go @8f59f682).
    Fargate Spot takes Linux tasks of either CPU architecture on platform version 1.4.0 or
    later (ECS API reference, CapacityProviderStrategyItem)."""
    provider = "FARGATE_SPOT" if settings.fargate_spot else "FARGATE"
    return {"capacityProviderStrategy": [{"capacityProvider": provider, "weight": 1}]}


def fargate_size(cpu: int, memory: int) -> tuple[int, int]:
    """The cheapest valid Fargate (cpu units, memory MiB) that holds ``cpu`` and ``memory``.

    The smallest CPU tier that offers enough memory wins, then its smallest memory step:
    a larger tier never has a smaller memory option, so it never costs less.
    """
    for tier_cpu, memories in FARGATE_SIZES.items():
        if tier_cpu >= cpu:
            fitting = [m for m in memories if m >= memory]
            if fitting:
                return tier_cpu, fitting[0]
    raise ValueError(f"no Fargate task size holds {cpu} CPU units and {memory} MiB")


def _logging(settings: Settings, service: ServiceSpec, container: str) -> dict:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group_name(settings.mesh_name, service.name, container),
            "awslogs-region": str(settings.region),
            "awslogs-stream-prefix": service.name,
            # A slow CloudWatch Logs must not block the app or Envoy writing to stdout; under
            # back-pressure lines beyond the buffer are dropped instead.
            "mode": "non-blocking",
            "max-buffer-size": "4m",
        },
    }


def _environment(env: dict[str, str]) -> list[dict]:
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def _app(settings: Settings, service: ServiceSpec) -> dict:
    container: dict = {
        "name": APP,
        "image": settings.service_image(service),
        "essential": True,
        "cpu": service.cpu,
        "memoryReservation": service.memory,
        "dependsOn": [
            {"containerName": ENVOY, "condition": "HEALTHY"},
            {"containerName": AGENT, "condition": "START"},
        ],
        "logConfiguration": _logging(settings, service, APP),
    }
    if not service.is_load and service.health_check:
        container["healthCheck"] = {"command": app_health_command(service), **HEALTH_CHECK_TIMING}
        if not service.uses_demo_app:
            container["healthCheck"]["startPeriod"] = OWN_IMAGE_START_PERIOD
    if service.uses_demo_app:
        container["command"] = ["python", "-u", "-c", demo_app_source()]
        # Every container of an awsvpc task shares one network namespace: Envoy reaches the
        # app on loopback, so nothing outside the task can reach the app port at all.
        container["environment"] = _environment(demo_app_environment(service, "127.0.0.1"))
        container["user"] = DEMO_APP_USER
        container["readonlyRootFilesystem"] = True
        container["linuxParameters"] = LINUX_PARAMETERS
    else:
        if service.command:
            container["command"] = list(service.command)
        container["environment"] = _environment(service.env)
    return container


def _envoy(settings: Settings, service: ServiceSpec) -> dict:
    ports = [METRICS_PORT] if service.is_load else [INGRESS_PORT, METRICS_PORT]
    return {
        "name": ENVOY,
        "image": settings.envoy_image,
        "essential": True,
        "cpu": ENVOY_CPU,
        "memoryReservation": ENVOY_MEMORY,
        # The bootstrap as compact JSON (valid YAML) on the command line: a task definition
        # has no files to mount.
        "command": envoy_command(
            config_yaml=json.dumps(envoy_bootstrap(settings, service), separators=(",", ":"))
        ),
        "environment": _environment(ENVOY_ENVIRONMENT),
        "user": ENVOY_USER,
        # ECS Exec enters the envoy container (it has bash, which reaches the admin port on
        # the task's loopback), and its SSM agent must write there: "making the root file
        # system read-only using the `readonlyRootFilesystem` task definition parameter, or any
        # other method, isn't supported" (Amazon ECS Developer Guide, Considerations for using
        # ECS Exec: awsdocs/amazon-ecs-developer-guide doc_source/ecs-exec.md @021abe8c;
        # aws/containers-roadmap#1359). So writable only where ECS Exec is on.
        "readonlyRootFilesystem": not ecs_exec_enabled(service),
        "linuxParameters": LINUX_PARAMETERS,
        "portMappings": [{"containerPort": p, "protocol": "tcp"} for p in ports],
        "healthCheck": {"command": envoy_health_command(), **HEALTH_CHECK_TIMING},
        "ulimits": [{"name": "nofile", "softLimit": NOFILE_LIMIT, "hardLimit": NOFILE_LIMIT}],
        "dependsOn": [{"containerName": AGENT, "condition": "START"}],
        "logConfiguration": _logging(settings, service, ENVOY),
    }


def _agent(settings: Settings, service: ServiceSpec) -> dict:
    # Runs as root with a writable root file system: the image (FROM scratch, no user of its
    # own) writes the translated config and its own log under /opt/aws/amazon-cloudwatch-agent,
    # which belongs to root. It listens on loopback UDP only and publishes nothing but metrics.
    # Essential: a non-essential container that dies is never restarted, so the task would go on
    # serving invisibly; replacing the task brings its metrics back.
    return {
        "name": AGENT,
        "image": settings.cloudwatch_agent_image,
        "essential": True,
        "cpu": AGENT_CPU,
        "memoryReservation": AGENT_MEMORY,
        "environment": _environment(
            {
                "CW_CONFIG_CONTENT": json.dumps(
                    cloudwatch_agent_config(settings), separators=(",", ":")
                )
            }
        ),
        "logConfiguration": _logging(settings, service, AGENT),
    }
