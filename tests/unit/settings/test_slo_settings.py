"""The ``slo`` settings (issue 19): defaults, per-service overrides, ``false``, one-line errors,
and how the Pulumi CLI's own rules decide how ``slo`` is declared."""

from __future__ import annotations

import copy

import pytest

from components.settings.errors import ConfigError
from components.settings.model import SloSpec
from components.settings.slo import ENCRYPTED_VALUE, SLO_LATENCY_MS
from components.settings.stack_files import PROJECT_ROOT, as_pulumi_config, stack_config
from components.settings.validate import settings_from_config
from components.stack import checked_settings
from tests.support.pulumi_cli_rules import PulumiConfigError, load_yaml, validate_stack_config

P = "mesh-visibility"
DEFAULT = SloSpec(availability=99.9, latency_ms=300, latency_percent=99, window_days=28)


def _config(stack: str = "dev", services: dict | None = None, **changes) -> dict:
    config = copy.deepcopy(stack_config(stack))
    for key, value in changes.items():
        config[f"{P}:{key}"] = value
    for index, service in (services or {}).items():
        config[f"{P}:services"][index].update(service)
    return config


def test_slos_are_on_by_default_for_app_services_only():
    settings = settings_from_config(_config())
    assert [(s.name, settings.slo_for(s)) for s in settings.services] == [
        (s.name, None if s.is_load else DEFAULT) for s in settings.services
    ]
    assert settings.slo_services == settings.app_services


def test_a_service_override_replaces_only_the_keys_it_writes():
    settings = settings_from_config(
        _config(
            slo={"latencyMs": 500, "windowDays": 7},
            services={0: {"slo": {"availability": 99.5}}, 1: {"slo": False}},
        )
    )
    first, second, third = settings.app_services
    assert settings.slo_for(first) == SloSpec(
        availability=99.5, latencyMs=500, latencyPercent=99, windowDays=7
    )
    assert settings.slo_for(second) is None
    assert settings.slo_for(third) == SloSpec(latencyMs=500, windowDays=7)
    assert settings.slo_services == (first, third)


def test_mesh_wide_false_turns_every_slo_off_whatever_the_services_say():
    settings = settings_from_config(_config(slo=False, services={0: {"slo": {"availability": 99}}}))
    assert all(settings.slo_for(s) is None for s in settings.services)


def test_the_cli_strings_read_like_the_yaml_values():
    """The engine hands `slo` to the program as JSON text (`false` included)."""
    for slo in (False, {"availability": 99.5, "latencyMs": 1000}):
        config = _config(slo=slo)
        assert settings_from_config(as_pulumi_config(config)) == settings_from_config(config)


BAD = [
    ({"slo": {"windowDays": 91}}, "slo.windowDays", "less than or equal to 90"),
    ({"slo": {"windowDays": 0}}, "slo.windowDays", "greater than or equal to 1"),
    ({"slo": {"availability": 100}}, "slo.availability", "less than 100"),
    ({"slo": {"availability": 0}}, "slo.availability", "greater than 0"),
    ({"slo": {"latencyPercent": 100.0}}, "slo.latencyPercent", "less than 100"),
    ({"slo": {"availability": True}}, "slo.availability", "valid number"),
    ({"slo": {"latencyMs": 350}}, "slo.latencyMs", "not a boundary of the sidecars' latency"),
    ({"slo": {"latency": 300}}, "slo.latency", "unknown key 'latency' (did you mean 'latencyMs'?"),
    ({"slo": True}, "slo", "or false to turn SLOs off"),
    ({"slo": "{availability: 99"}, "slo", "not valid JSON"),
    ({"services": {0: {"slo": {"latencyMs": 301}}}}, "services[0].slo.latencyMs", "one of"),
    ({"services": {1: {"slo": None}}}, "services[1].slo", "or false to turn SLOs off"),
    ({"alertWebhookUrl": "https://hooks.example/x"}, "alertWebhookUrl", "only the eks topology"),
]


@pytest.mark.parametrize("changes, key, reason", BAD, ids=[case[1] + "-" + case[2] for case in BAD])
def test_a_bad_slo_names_its_key_on_one_line(changes, key, reason):
    changes = dict(changes)
    config = _config(services=changes.pop("services", None), **changes)
    with pytest.raises(ConfigError) as caught:
        checked_settings(config)
    assert (caught.value.key, reason in caught.value.reason) == (key, True), str(caught.value)
    assert str(caught.value).startswith(f"{P}:{key}: ") and "\n" not in str(caught.value)


def test_every_slo_latency_is_a_boundary_envoy_can_report():
    assert 300 in SLO_LATENCY_MS and 250 in SLO_LATENCY_MS
    for latency in SLO_LATENCY_MS:
        settings_from_config(_config(slo={"latencyMs": latency}))


def test_the_webhook_is_a_url_never_echoed_and_a_stack_files_ciphertext_is_kept_out():
    secret = "hooks.example/not-a-url-but-secret"
    with pytest.raises(ConfigError) as caught:
        settings_from_config(_config("dev-eks", alertWebhookUrl=secret))
    assert caught.value.key == "alertWebhookUrl" and secret not in str(caught.value)
    encrypted = _config("dev-eks", alertWebhookUrl={"secure": "v1:abc"})
    assert settings_from_config(encrypted).alert_webhook_url == ENCRYPTED_VALUE
    url = "https://hooks.example/services/T0/B0"
    assert settings_from_config(_config("dev-eks", alertWebhookUrl=url)).alert_webhook_url == url


def test_declaring_slo_as_an_object_would_make_the_cli_refuse_false():
    """Why Pulumi.yaml does not declare `slo`: the CLI type-checks a declared key's value, and
    `type: object` takes maps only (pulumi/pulumi sdk/go/common/workspace/project.go
    ValidateConfigValue, as tests/support/pulumi_cli_rules.py applies it)."""
    project = load_yaml(str(PROJECT_ROOT / "Pulumi.yaml"))
    stack = {"config": {"aws:region": "us-west-2", f"{P}:slo": False}}
    validate_stack_config(project, stack, "dev")
    project["config"]["slo"] = {"type": "object", "default": DEFAULT.model_dump(by_alias=True)}
    with pytest.raises(PulumiConfigError, match="slo"):
        validate_stack_config(project, stack, "dev")
