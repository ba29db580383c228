"""Every golden case's rendered documents, handed to their real consumers: each sidecar
bootstrap to ``envoy --mode validate``; on ECS each service's container definitions to
botocore's ``RegisterTaskDefinition`` model, each CloudWatch alarm (SLO alarms included) to its
``PutMetricAlarm`` model and the CloudWatch agent config to the agent's own JSON schema; on EKS
each Kubernetes object to ``kubernetes-validate --strict`` and the alert rule file to
``promtool check rules``. The documents are the ones ``meshvis render`` writes
(tests/support/golden_cases.py), so what a reviewer reads in tests/golden/ is what is checked.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import botocore.session
import kubernetes_validate
import pytest
import yaml
from botocore.validate import ParamValidator
from jsonschema import Draft4Validator

from components.eks.objects import ENVOY_CONFIG_KEY
from meshvis.render.eks import RULES_FILE
from tests.conftest import REFERENCE, needs_reference
from tests.support.consumers import envoy_validate, run_promtool
from tests.support.golden_cases import case_documents, case_settings, load_cases
from tests.unit.dashboards.test_cloudwatch import _put_metric_alarm_params
from tests.unit.eks.test_objects import schema_version

CASES = load_cases()
ECS_CASES = [n for n in CASES if case_settings(n).topology == "ecs"]
EKS_CASES = [n for n in CASES if case_settings(n).topology == "eks"]
# The Prometheus operator's kinds are CRDs, which kubernetes-validate has no schema for; the
# PrometheusRule's rules go to promtool as the rendered rule file.
OPERATOR_API = "monitoring.coreos.com/"
# The alarms' documents: the mesh's own alarms and the SLO burn-rate alarms.
ALARM_DOCUMENTS = ("alarms.json", "slo-alarms.json")
AGENT_SCHEMA = REFERENCE / "cloudwatch-agent" / "schema.json"


def _bootstraps(name: str) -> dict[str, str]:
    """Each sidecar bootstrap the case renders, as JSON text, by where it is rendered."""
    documents = case_documents(name)
    if case_settings(name).topology == "ecs":
        return {
            path: json.dumps(yaml.safe_load(text))
            for path, text in documents.items()
            if path.startswith("envoy/")
        }
    return {
        path: obj["data"][ENVOY_CONFIG_KEY]
        for path, obj in _kubernetes_objects(name).items()
        if obj["kind"] == "ConfigMap" and ENVOY_CONFIG_KEY in obj.get("data", {})
    }


def _kubernetes_objects(name: str) -> dict[str, dict]:
    return {
        path: yaml.safe_load(text)
        for path, text in case_documents(name).items()
        if path.startswith("k8s/")
    }


@cache
def _envoy_validate(envoy_binary: Path, bootstrap: str) -> str:
    """Envoy's verdict on a bootstrap: "" when it accepts it without a deprecation, else why
    not (cached: most cases share most of their bootstraps with their base stack)."""
    done = envoy_validate(envoy_binary, "--config-yaml", bootstrap)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        return output[-2000:]
    return "deprecated field in use" if "Deprecated" in output else ""


@pytest.mark.parametrize("name", CASES)
def test_envoy_validates_every_bootstrap(name, envoy_binary):
    bootstraps = _bootstraps(name)
    assert bootstraps
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = dict(
            zip(
                bootstraps,
                pool.map(lambda text: _envoy_validate(envoy_binary, text), bootstraps.values()),
                strict=True,
            )
        )
    assert not any(verdicts.values()), {path: v for path, v in verdicts.items() if v}


@cache
def _input_shape(service: str, operation: str) -> object:
    """An AWS API operation's request shape, from botocore's model of the service."""
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


@pytest.mark.parametrize("name", ECS_CASES)
def test_container_definitions_are_valid_register_requests(name):
    shape = _input_shape("ecs", "RegisterTaskDefinition")
    rendered = {p: t for p, t in case_documents(name).items() if p.startswith("ecs/")}
    assert len(rendered) == len(case_settings(name).services)
    for path, text in rendered.items():
        request = {"family": Path(path).stem, "containerDefinitions": json.loads(text)}
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), f"{path}: {report.generate_report()}"


@pytest.mark.parametrize("name", EKS_CASES)
def test_kubernetes_objects_pass_strict_validation(name):
    version = schema_version(case_settings(name).eks_version)
    objects = _kubernetes_objects(name)
    standard = {p: o for p, o in objects.items() if not o["apiVersion"].startswith(OPERATOR_API)}
    assert [o["kind"] for p, o in objects.items() if p not in standard] == ["PrometheusRule"]
    for path, obj in standard.items():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path}: {err}")


@pytest.mark.parametrize("name", EKS_CASES)
def test_alert_rules_pass_promtool_check(name, promtool, tmp_path):
    (tmp_path / RULES_FILE).write_text(case_documents(name)[RULES_FILE])
    done = run_promtool(promtool, "check", "rules", RULES_FILE, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ECS_CASES)
def test_alarms_are_valid_put_metric_alarm_requests(name):
    shape = _input_shape("cloudwatch", "PutMetricAlarm")
    documents = case_documents(name)
    for document in ALARM_DOCUMENTS:
        for spec in json.loads(documents[document]):
            report = ParamValidator().validate(_put_metric_alarm_params(spec), shape)
            assert not report.has_errors(), f"{document} {spec['name']}: {report.generate_report()}"


@cache
def _agent_validator() -> Draft4Validator:
    """The CloudWatch agent's own schema (draft-04, as the agent validates its config)."""
    schema = json.loads(AGENT_SCHEMA.read_text())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


@needs_reference
@pytest.mark.parametrize("name", ECS_CASES)
def test_agent_config_passes_the_agents_schema(name):
    config = json.loads(case_documents(name)["cloudwatch-agent.json"])
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in _agent_validator().iter_errors(config)
    ]
    assert errors == []
