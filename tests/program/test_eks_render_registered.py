"""What ``meshvis render`` writes for an ``eks`` stack is what the program registers under the
mocks (issue 22 item 1): the same Kubernetes objects and Helm releases, argument for argument.

The render's files are read back (``k8s/*.yaml``; ``helm/<release>.yaml`` with its values
file) and compared, as normalized JSON, with the inputs of every ``kubernetes:`` resource the
program registers, the references set to what the program had: the stack's webhook URL, which
the render replaces with a placeholder.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from components.eks import service as service_module
from components.eks.documents import Document, References, stack_documents
from components.sidecar.demo_app import demo_app_source
from meshvis.render.eks import VALUES_FILES, eks_documents
from tests.support.golden_cases import case_config, case_settings, load_cases
from tests.support.pulumi_harness import ProgramRun, run_program

# The EKS demo stack, and its variant with a webhook: the Secret that embeds a reference.
CASES = ["dev-eks", "dev-eks-alert-webhook"]
RELEASE = "kubernetes:helm.sh/v3:Release"
# Inputs a resource class sets itself whatever its arguments (pulumi_kubernetes
# helm/v3/release.py: `compat` "true" on every Release).
CLASS_INPUTS = {RELEASE: {"compat": "true"}}

Key = tuple[str, str, str]


def _type_token(obj: dict) -> str:
    """The pulumi-kubernetes type of an object: the core group is ``core``."""
    api = obj["apiVersion"] if "/" in obj["apiVersion"] else f"core/{obj['apiVersion']}"
    return f"kubernetes:{api}:{obj['kind']}"


def _normal(value: Any) -> Any:
    """A value as JSON compares it: secrets unwrapped, whole floats as integers (the engine's
    wire format carries every number as a double)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _normal(value["value"])
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normal(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _key(typ: str, args: dict) -> Key:
    meta = args.get("metadata", {})
    return typ, meta.get("namespace") or args.get("namespace", ""), meta.get("name") or args["name"]


def rendered(documents: dict[str, str]) -> dict[Key, str]:
    """The resources a render describes, as (type, namespace, name) -> normalized JSON args."""
    found: dict[Key, str] = {}
    for path, text in documents.items():
        if path.startswith("k8s/"):
            obj = yaml.safe_load(text)
            found[_key(_type_token(obj), obj)] = json.dumps(_normal(obj), sort_keys=True)
        elif path.startswith("helm/"):
            args = yaml.safe_load(text)
            args["values"] = yaml.safe_load(documents[VALUES_FILES[args["name"]]])
            args.update(CLASS_INPUTS[RELEASE])
            found[_key(RELEASE, args)] = json.dumps(_normal(args), sort_keys=True)
    return found


def registered(run: ProgramRun) -> dict[Key, str]:
    """Every Kubernetes object and Helm release the program registered, keyed like
    ``rendered``."""
    found: dict[Key, str] = {}
    for resource in run.resources:
        if resource.typ.startswith("kubernetes:"):
            inputs = _normal(resource.inputs)
            key = _key(resource.typ, inputs)
            assert key not in found, f"two resources register {key}"
            found[key] = json.dumps(inputs, sort_keys=True)
    return found


def _fields_that_differ(left: str, right: str) -> list[str]:
    a, b = json.loads(left), json.loads(right)
    return sorted(f for f in set(a) | set(b) if json.dumps(a.get(f)) != json.dumps(b.get(f)))


@pytest.fixture(scope="module", params=CASES)
def case(request) -> tuple[str, ProgramRun]:
    config = case_config(load_cases()[request.param])
    return request.param, run_program(config, request.param)


def test_the_render_is_what_the_program_registers(case):
    name, run = case
    settings = case_settings(name)
    # The references as the program had them: the webhook URL of the stack's config.
    references = References(alert_webhook_url=settings.alert_webhook_url)
    expected = rendered(eks_documents(settings, references))
    actual = registered(run)
    assert sorted(actual) == sorted(expected)
    for key, args in expected.items():
        assert actual[key] == args, f"{key} differs in {_fields_that_differ(actual[key], args)}"


@pytest.mark.parametrize("name", CASES)
def test_the_webhook_url_is_rendered_as_its_placeholder_only(name):
    settings = case_settings(name)
    placeholders = rendered(eks_documents(settings))
    with_url = rendered(eks_documents(settings, References(settings.alert_webhook_url)))
    differ = [key for key in placeholders if placeholders[key] != with_url[key]]
    expected = [("kubernetes:core/v1:Secret", "monitoring", f"{settings.mesh_name}-alertmanager")]
    assert differ == (expected if settings.alert_webhook_url else [])


def test_every_document_is_registered_under_its_logical_name(case):
    """The Pulumi names (hence the URNs) come from the documents: ``<mesh>-<name>`` for the
    topology's, ``<mesh>-<service>-<name>`` for a service component's."""
    name, run = case
    settings = case_settings(name)
    documents = stack_documents(settings, demo_app_source(), References(None))
    mesh = settings.mesh_name
    assert sorted(r.name for r in run.resources if r.typ.startswith("kubernetes:")) == sorted(
        f"{mesh}-{d.service}-{d.name}" if d.service else f"{mesh}-{d.name}" for d in documents
    )


def _drop_strategy(spec: dict) -> None:
    del spec["strategy"]


@pytest.mark.parametrize(
    "change",
    [
        lambda spec: spec.update(paused=True),
        _drop_strategy,
        lambda spec: spec.update(replicas=spec["replicas"] + 1),
    ],
    ids=["added", "dropped", "altered"],
)
def test_a_component_that_adds_drops_or_alters_a_field_fails_the_comparison(monkeypatch, change):
    """As if EksMeshService changed its Deployment's spec on the way to the resource."""
    register = service_module.register

    def changing(prefix: str, document: Document, opts: pulumi.ResourceOptions):
        if document.kind == "Deployment":
            args = copy.deepcopy(document.args)
            change(args["spec"])
            document = dataclasses.replace(document, args=args)
        return register(prefix, document, opts)

    monkeypatch.setattr(service_module, "register", changing)
    settings = case_settings("dev-eks")
    run = run_program(case_config(load_cases()["dev-eks"]), "changed")
    actual, expected = registered(run), rendered(eks_documents(settings))
    assert sorted(actual) == sorted(expected)
    assert sorted(k[2] for k in expected if actual[k] != expected[k]) == sorted(
        s.name for s in settings.services
    )
