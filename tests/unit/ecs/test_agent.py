"""The CloudWatch agent config, checked by the agent's own JSON schema (draft-04)."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft4Validator

from components.ecs.agent import cloudwatch_agent_config, dropped_metric_names
from components.settings.naming import metric_namespace
from components.settings.ports import STATSD_PORT
from components.settings.stack_files import stack_names
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.names import TRACE_COLLECTOR_CLUSTER
from components.sidecar.stats import cloudwatch_dropped_metrics
from components.stack import stack_settings
from dashboards.cloudwatch.metrics import METRIC_SEPARATOR, PER_UPSTREAM_DIMENSIONS
from tests.conftest import REFERENCE, needs_reference

SCHEMA_PATH = REFERENCE / "cloudwatch-agent" / "schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SCHEMA_PATH.is_file():
        pytest.skip(needs_reference.kwargs["reason"])
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _errors(validator: Draft4Validator, config: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(config)]


@pytest.mark.parametrize("stack", stack_names())
def test_config_is_valid_for_the_agent(validator, stack):
    config = cloudwatch_agent_config(stack_settings(stack))
    assert _errors(validator, config) == []
    # It travels as CW_CONFIG_CONTENT, a JSON string.
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (
            lambda c: c["metrics"].pop("metrics_collected"),
            "'metrics_collected' is a required property",
        ),
        (
            lambda c: c["metrics"]["metrics_collected"]["statsd"].update(service_address=8125),
            "is not of type 'string'",
        ),
        (
            lambda c: c["metrics"]["metrics_collected"]["statsd"].update(port=8125),
            "Additional properties are not allowed",
        ),
        (
            lambda c: c["metrics"]["metrics_collected"]["statsd"].update(
                metrics_aggregation_interval=-1
            ),
            "less than the minimum",
        ),
        (lambda c: c["agent"].update(omit_hostname="yes"), "is not of type 'boolean'"),
        (lambda c: c["metrics"].update(namespace=""), "should be non-empty"),
    ],
)
def test_the_schema_rejects_broken_configs(validator, break_it, expected):
    """The validator is real: each broken copy of our config fails it for the right reason."""
    config = copy.deepcopy(cloudwatch_agent_config(stack_settings("dev")))
    break_it(config)
    errors = _errors(validator, config)
    assert any(expected in e for e in errors), errors


def test_statsd_input_listens_where_envoy_sends():
    settings = stack_settings("dev")
    statsd = cloudwatch_agent_config(settings)["metrics"]["metrics_collected"]["statsd"]
    host, _, port = statsd["service_address"].rpartition(":")
    assert int(port) == STATSD_PORT
    for svc in settings.services:
        sink = envoy_bootstrap(settings, svc)["stats_sinks"][0]["typed_config"]["address"]
        assert sink["socket_address"]["address"] == host == "127.0.0.1"
        assert sink["socket_address"]["port_value"] == STATSD_PORT


def test_metrics_go_to_the_mesh_namespace_without_host_dimension():
    settings = stack_settings("dev")
    config = cloudwatch_agent_config(settings)
    assert (
        config["metrics"]["namespace"]
        == metric_namespace(settings.mesh_name)
        == "MeshVisibility/greeting"
    )
    assert config["agent"]["omit_hostname"] is True
    assert config["agent"]["region"] == settings.region
    statsd = config["metrics"]["metrics_collected"]["statsd"]
    assert statsd["metric_separator"] == METRIC_SEPARATOR
    # Standard resolution: the agent publishes one aggregated datum per metric and minute.
    assert statsd["metrics_aggregation_interval"] == 60
    # No EMF listener (it would open 25888 with nothing to send to it).
    assert "logs" not in config


def test_agent_receives_the_sidecars_spans_on_loopback_for_x_ray():
    """With tracing the agent's X-Ray pipeline listens for OTLP where every sidecar's tracer
    sends (the task's loopback, 4318 over HTTP); without it there is no traces section. (With
    the trace ceiling a load generator traces nothing: the entry drops its context.)"""
    settings = stack_settings("dev")
    otlp = cloudwatch_agent_config(settings)["traces"]["traces_collected"]["otlp"]
    for svc in settings.app_services:
        [collector] = [
            c
            for c in envoy_bootstrap(settings, svc)["static_resources"]["clusters"]
            if c["name"] == TRACE_COLLECTOR_CLUSTER
        ]
        address = collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        socket = address["address"]["socket_address"]
        assert (
            otlp["http_endpoint"]
            == f"{socket['address']}:{socket['port_value']}"
            == "127.0.0.1:4318"
        )
    assert otlp["grpc_endpoint"] == "127.0.0.1:4317"
    off = settings.model_copy(update={"tracing": False})
    assert "traces" not in cloudwatch_agent_config(off)


def test_the_schema_rejects_a_broken_traces_section(validator):
    config = copy.deepcopy(cloudwatch_agent_config(stack_settings("dev")))
    config["traces"]["traces_collected"]["otlp"]["http_port"] = 4318
    # otlp is one object or a list of them (oneOf): the stray key fits neither.
    assert any(
        "traces_collected/otlp: " in e and "not valid under any" in e
        for e in _errors(validator, config)
    )


def test_agent_drops_only_for_the_essential_profile():
    """``full`` publishes everything a sidecar sends; ``essential`` drops what no CloudWatch
    reader reads as the sidecar sent it (tests/unit/sidecar/test_stats.py proves that)."""
    settings = stack_settings("dev")
    statsd = cloudwatch_agent_config(settings)["metrics"]["metrics_collected"]["statsd"]
    assert statsd["drop_original_metrics"] == list(cloudwatch_dropped_metrics())
    full = settings.model_copy(update={"stats_profile": "full"})
    assert dropped_metric_names(cloudwatch_agent_config(full)) == frozenset()


@pytest.mark.parametrize("profile", ["essential", "full"])
def test_agent_aggregates_every_callers_upstream_stats_per_upstream(validator, profile):
    """One aggregation dimension set, under both profiles (the dashboard and the alarms read
    it): the upstream cluster without the caller. The schema takes it; a set with a dimension
    repeated it refuses."""
    settings = stack_settings("dev").model_copy(update={"stats_profile": profile})
    config = cloudwatch_agent_config(settings)
    assert config["metrics"]["aggregation_dimensions"] == [list(PER_UPSTREAM_DIMENSIONS)]
    assert "service" not in PER_UPSTREAM_DIMENSIONS
    assert _errors(validator, config) == []
    config["metrics"]["aggregation_dimensions"] = [["mesh", "mesh"]]
    assert any("non-unique" in e for e in _errors(validator, config))
