"""Issue 20 item 2: the local mesh's health watch checks exactly what decides, once deployed,
whether a replica stays in DNS. ECS: every container ``healthCheck`` of the task definition the
program registers (the task is UNHEALTHY when any essential container is, and ECS reports it to
Cloud Map, which then leaves it out of the answers); EKS: every container's readiness probe of
the Deployment it registers. The registered documents are read under mocks and their commands
parsed here, independently of the functions that build them; the watch's checks are recorded
from the URLs it actually requests.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from meshvis.local import dns
from meshvis.local.dns import HealthWatch
from meshvis.local.plan import plan_mesh
from tests.support.pulumi_harness import run_program
from tests.support.shop_graphs import shop_config, shop_eks_config

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# An own image with its own health path, next to demo-app services.
OWN_IMAGE = {"image": "public.ecr.aws/nginx/nginx:1.29", "healthPath": "/healthz"}


def _own_image(config: dict) -> dict:
    config["mesh-visibility:services"][0].update(OWN_IMAGE)
    return config


CONFIGS = {
    "dev": stack_config("dev"),
    "dev-eks": stack_config("dev-eks"),
    "shop-own-image": _own_image(shop_config()),
    "shop-eks-own-image": _own_image(shop_eks_config()),
}
URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^'\",\s)]*)")


def _endpoint(command: list[str]) -> tuple[int, str]:
    """The (port, path) one ECS health-check command asks for."""
    text = " ".join(command[1:])
    if command[1:2] == ["bash"]:  # the sidecar's /dev/tcp request
        port = re.search(r"/dev/tcp/127\.0\.0\.1/(\d+)", text)
        path = re.search(r"printf 'GET (\S+) HTTP", text)
        assert port and path, command
        return int(port.group(1)), path.group(1)
    urls = {(int(p), path) for p, path in URL.findall(" ".join(shlex.split(text)))}
    assert len(urls) == 1, command
    return urls.pop()


def _registered(stack: str) -> dict[str, set[tuple[int | None, str]]]:
    """Service -> the endpoints its registered health checks or readiness probes ask for."""
    run = run_program(CONFIGS[stack], stack)
    found: dict[str, set[tuple[int | None, str]]] = {}
    for definition in run.of_type(TASK_DEFINITION):
        containers = json.loads(definition.inputs["containerDefinitions"])
        # Every container's log stream prefix is its service's name.
        name = containers[0]["logConfiguration"]["options"]["awslogs-stream-prefix"]
        found[name] = {
            _endpoint(c["healthCheck"]["command"]) for c in containers if "healthCheck" in c
        }
    for deployment in run.of_type(DEPLOYMENT):
        pod = deployment.inputs["spec"]["template"]["spec"]
        containers = [*pod.get("initContainers", []), *pod["containers"]]
        ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
        name = deployment.inputs["spec"]["selector"]["matchLabels"]["app"]
        found[name] = {
            (
                ports.get(c["readinessProbe"]["httpGet"]["port"]),
                c["readinessProbe"]["httpGet"]["path"],
            )
            for c in containers
            if "readinessProbe" in c
        }
    return found


class _Answer:
    status = 200

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("stack", sorted(CONFIGS))
def test_the_local_health_watch_checks_exactly_the_deployed_checks(stack, monkeypatch):
    settings = settings_from_config(CONFIGS[stack])
    plan = plan_mesh(settings)
    asked: list[str] = []

    def urlopen(url, timeout):
        asked.append(url)
        return _Answer()

    monkeypatch.setattr(dns.urllib.request, "urlopen", urlopen)

    class _Dns:
        pass

    stand_in = _Dns()
    stand_in.plan = plan
    watch = HealthWatch(stand_in)
    registered = _registered(stack)
    for replica in watch.replicas:
        asked.clear()
        assert watch.check(replica, 1.0)
        prefix = f"http://{replica.address}:"
        checked = {
            (int(port), "/" + path)
            for port, path in (u[len(prefix) :].split("/", 1) for u in asked)
        }
        assert checked == registered[replica.service.name], replica.instance
