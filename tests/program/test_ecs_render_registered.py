"""What ``meshvis render`` writes for an ``ecs`` stack is what the program registers.

The render's ``resources.json`` and ``resources/<service>.json`` hold every document of
components/ecs/documents.py with placeholder references; here the same documents, with the
references set to the values the mocks gave the resources they name, must be exactly the inputs
the program registered under mocks: the same resources of each document kind, the same
arguments (JSON strings compared parsed). A component that adds, drops or alters a field of a
document fails it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.type_token import get_type_token

from components.ecs.documents import MeshReferences, ServiceReferences, mesh_tags
from components.ecs.mesh_documents import mesh_documents
from components.ecs.registry import RESOURCE_CLASSES
from components.ecs.service_documents import service_documents
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from meshvis.render.ecs import ecs_documents
from tests.support.pulumi_harness import ProgramRun, run_program

CASES = {
    "dev": stack_config("dev"),
    # Every listener and the redirect; both Cloud Map namespaces of a namespace change.
    "dev-https-step-1": {
        **stack_config("dev"),
        "mesh-visibility:certificateArn": (
            "arn:aws:acm:us-west-2:111122223333:certificate/12345678-1234-1234-1234-123456789012"
        ),
        "mesh-visibility:dnsNamespace": "internal-next",
        "mesh-visibility:previousDnsNamespace": "internal",
        "mesh-visibility:containerInsights": True,
    },
    "dev-no-entry": {**stack_config("dev"), "mesh-visibility:entryService": None},
}


def _type(cls: type) -> str:
    token = get_type_token(cls)
    assert token is not None, cls
    return token


TYPES = {kind: _type(cls) for kind, cls in RESOURCE_CLASSES.items()}
# Inputs whose values are maps the provider passes through: their keys are data, never
# translated to the engine's camelCase.
MAPS = {"tags", "dimensions"}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request) -> tuple[dict, ProgramRun]:
    config = {k: v for k, v in CASES[request.param].items() if v is not None}
    return config, run_program(config, request.param)


def _arn(typ: str, name: str) -> str:
    """The ARN the mocks give a resource (meshvis/offline/harness.py ``_mock_outputs``)."""
    return f"arn:aws:mock:us-west-2:123456789012:{typ.split(':')[-1].lower()}/{name}"


def _id(name: str) -> str:
    return f"{name}-id"


def _expected(config: dict, run: ProgramRun) -> dict[tuple[str, str], Any]:
    """(type, resource name) -> arguments, of every document with the mocks' references."""
    settings = settings_from_config(config)
    mesh = settings.mesh_name

    def subnets(kind: str) -> list[str]:
        prefix = f"{mesh}-net-{kind}-"
        return [
            _id(r.name) for r in run.of_type("aws:ec2/subnet:Subnet") if r.name.startswith(prefix)
        ]

    shared = MeshReferences(
        vpc_id=_id(f"{mesh}-net-vpc"),
        public_subnet_ids=subnets("public"),
        cluster_name=f"mesh-visibility-{mesh}",
        mesh_security_group_id=_id(f"{mesh}-mesh-sg"),
        load_balancer_security_group_id=_id(f"{mesh}-alb-sg"),
        load_balancer_arn=_arn(TYPES["load-balancer"], f"{mesh}-alb"),
        load_balancer_arn_suffix=f"app/{mesh}-alb/0123456789abcdef",
        target_group_arn=_arn(TYPES["target-group"], f"{mesh}-tg"),
        target_group_arn_suffix=f"targetgroup/{mesh}-tg/0123456789abcdef",
        topic_arn=_arn(TYPES["topic"], f"{mesh}-alerts"),
    )
    expected = {
        (TYPES[d.kind], f"{mesh}-{d.name}"): d.args for d in mesh_documents(settings, shared, mesh)
    }
    for service in settings.services:
        prefix = f"{mesh}-{service.name}"
        references = ServiceReferences(
            # The mocks' caller identity and partition (meshvis/offline/harness.py ``_answer``).
            account_id="123456789012",
            partition="aws",
            vpc_id=shared.vpc_id,
            cluster_arn=_arn(TYPES["ecs-cluster"], f"{mesh}-cluster"),
            subnet_ids=subnets("private"),
            mesh_security_group_id=shared.mesh_security_group_id,
            security_group_id=_id(f"{prefix}-sg"),
            task_role_id=_id(f"{prefix}-task"),
            task_role_arn=_arn(TYPES["role"], f"{prefix}-task"),
            execution_role_id=_id(f"{prefix}-exec"),
            execution_role_arn=_arn(TYPES["role"], f"{prefix}-exec"),
            task_definition_arn=_arn(TYPES["task-definition"], f"{prefix}-task"),
            namespace_id=_id(f"{mesh}-dns-{settings.dns_namespace}"),
            previous_namespace_id=_id(f"{mesh}-dns-{settings.previous_dns_namespace}"),
            registry_arn=_arn(
                TYPES["discovery-service"],
                f"{prefix}-discovery-{settings.registered_dns_namespace}",
            ),
            target_group_arn=shared.target_group_arn,
            load_balancer_security_group_id=shared.load_balancer_security_group_id,
        )
        documents = service_documents(settings, service, references, mesh_tags(settings), prefix)
        expected |= {(TYPES[d.kind], f"{prefix}-{d.name}"): d.args for d in documents}
    return expected


def _engine(value: Any) -> Any:
    """Arguments as the engine receives them: camelCase names (not inside a map's keys), no
    unset (None) values, JSON text parsed."""
    if isinstance(value, dict):
        return {
            _camel(key): item if key in MAPS else _engine(item)
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        return [_engine(item) for item in value]
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def test_the_documents_are_exactly_what_the_program_registers(case):
    config, run = case
    expected = {key: _engine(args) for key, args in _expected(config, run).items()}
    registered = {
        (r.typ, r.name): _engine(r.inputs) for r in run.resources if r.typ in TYPES.values()
    }
    assert sorted(registered) == sorted(expected)
    for key, args in expected.items():
        assert registered[key] == args, key


def test_render_writes_those_documents_with_placeholders(case):
    config, _ = case
    settings = settings_from_config(config)
    written = ecs_documents(settings)
    shared = json.loads(written["resources.json"])
    services = {s.name: json.loads(written[f"resources/{s.name}.json"]) for s in settings.services}
    kinds = {d["kind"] for d in shared} | {d["kind"] for ds in services.values() for d in ds}
    assert kinds <= set(TYPES)
    # Every reference is a placeholder: nothing is left to resolve at deploy time in the file.
    assert "<<" not in written["resources.json"]
    # The options a reader looks for are visible in the render.
    text = written["resources.json"] + "".join(written[f"resources/{s}.json"] for s in services)
    assert settings.cpu_architecture in text
    assert ("FARGATE_SPOT" in text) == settings.fargate_spot
    assert (settings.certificate_arn or "no certificate") in text or not settings.certificate_arn
