"""`meshvis offline`: the examples run under Pulumi's mocks, as docs/try-offline.md writes the
commands (from the project root, relative paths), print what they would create."""

from __future__ import annotations

import re
import subprocess

import pytest

from meshvis.offline.programs import invoke_token, program_config
from tests.conftest import ROOT

DOCS = ROOT / "docs" / "try-offline.md"
MESHVIS = str(ROOT / ".venv" / "bin" / "meshvis")
PYTHON_EXAMPLE = "meshvis offline examples/ecs-existing-cluster"
YAML_EXAMPLE = "meshvis offline examples/ecs-existing-cluster-yaml"
WITH_CONFIG = (
    "meshvis offline examples/ecs-existing-cluster -c clusterName=platform "
    "-c namespaceName=shop.local"
)
COMPONENT = re.compile(r"^meshvis:ecs:MeshService (\S+)$")


def run_as_documented(command: str) -> subprocess.CompletedProcess:
    assert command in DOCS.read_text(), command
    return subprocess.run(
        [MESHVIS, *command.split()[1:]], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def components(stdout: str) -> dict[str, list[str]]:
    """Component name -> the lines of its children."""
    found: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if match := COMPONENT.match(line):
            current = found.setdefault(match.group(1), [])
        elif line.startswith("  ") and current is not None:
            current.append(line.strip())
        else:
            current = None
    return found


@pytest.fixture(scope="module")
def python_example() -> str:
    done = run_as_documented(PYTHON_EXAMPLE)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_python_example_prints_its_components_and_their_resources(python_example):
    lines = python_example.splitlines()
    assert re.match(
        r"ecs-existing-cluster \(.+\) under Pulumi mocks, offline: \d+ resources", lines[0]
    )
    assert "clusterName='cluster-name-example' (placeholder)" in lines[1]
    found = components(python_example)
    assert sorted(found) == ["greeter", "greeting"]
    for name, children in found.items():
        [task] = [c for c in children if c.startswith("aws:ecs/taskDefinition")]
        assert f"family=shop-{name}" in task
        assert "containers=['app', 'envoy', 'cloudwatch-agent']" in task
        [service] = [c for c in children if c.startswith("aws:ecs/service:Service")]
        assert "cluster=arn:aws:ecs:us-west-2:123456789012:cluster/cluster-name-example" in service
    assert "aws:ec2/securityGroup:SecurityGroup mesh  vpcId=vpc-id-example" in python_example


def test_the_yaml_example_constructs_the_same_components_through_the_package(python_example):
    done = run_as_documented(YAML_EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert components(done.stdout) == components(python_example)
    declared = [line for line in done.stdout.splitlines() if "(declared in Pulumi.yaml" in line]
    assert [line.split()[1] for line in declared] == [
        "mesh",
        "mesh-to-ingress",
        "mesh-to-metrics",
        "mesh-to-https",
    ]


def test_config_values_replace_the_placeholders():
    done = run_as_documented(WITH_CONFIG)
    assert done.returncode == 0, done.stderr
    assert "cluster/platform" in done.stdout
    assert "greeting-discovery-shop.local" in done.stdout
    assert "clusterName='platform'," in done.stdout


def test_a_key_the_program_does_not_declare_is_one_line():
    done = subprocess.run(
        [MESHVIS, "offline", "examples/ecs-existing-cluster", "-c", "clustr=x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --config clustr: not declared in the program's")
    assert len(done.stderr.splitlines()) == 1


def test_config_of_every_type_andinvoke_tokens():
    project = {
        "name": "p",
        "config": {
            "a": {"type": "array", "items": {"type": "string"}},
            "n": {"type": "integer"},
            "flag": {"type": "boolean", "default": True},
            "nameOfThing": {"type": "string"},
        },
    }
    config, placeholders = program_config(project, {"a": '["x"]'})
    assert config == {
        "aws:region": "us-west-2",
        "p:a": ["x"],
        "p:n": 1,
        "p:flag": True,
        "p:nameOfThing": "name-of-thing-example",
    }
    assert placeholders == ["n", "nameOfThing"]
    assert invoke_token("aws:ecs:getCluster") == "aws:ecs/getCluster:getCluster"
    assert invoke_token("aws:getRegion") == "aws:index/getRegion:getRegion"
