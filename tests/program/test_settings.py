"""Stack configuration: every bad value stops everything with one message naming key and reason.

Every case of the ``BAD`` table goes through all three ways a stack is loaded: the settings
(plus the topology's own rules, ``components.stack``), the whole Pulumi program under
mocks (nothing may be registered) and the command line's ``render`` and ``run`` (nothing may
be written or started). Each of those costs milliseconds per case, so every case runs
everywhere; one case also runs ``python -m meshvis`` as a real subprocess.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from components.settings.errors import ConfigError
from components.settings.model import Settings
from components.settings.stack_files import as_pulumi_config, stack_config, stack_names
from components.settings.validate import settings_from_config
from components.stack import checked_settings
from meshvis.__main__ import main as meshvis_main
from tests.support.pulumi_harness import ProgramRun, run_program
from tests.support.shop_graphs import shop_config

ROOT = Path(__file__).resolve().parents[2]
P = "mesh-visibility"


def _dev() -> dict:
    return copy.deepcopy(stack_config("dev"))


def _with(**changes) -> dict:
    config = _dev()
    for key, value in changes.items():
        config[f"{P}:{key}"] = value
    return config


def _service(index: int, **changes) -> dict:
    config = _dev()
    service = config[f"{P}:services"][index]
    for key, value in changes.items():
        if value is _DROP:
            service.pop(key, None)
        else:
            service[key] = value
    return config


def _eks_service(index: int, **changes) -> dict:
    config = copy.deepcopy(stack_config("dev-eks"))
    config[f"{P}:services"][index].update(changes)
    return config


def _services(services: list) -> dict:
    return _with(services=services)


_DROP = object()
CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
APP = {"name": "a", "port": 3000}

# (case id, config, expected key path, words the reason must contain)
BAD = [
    ("unknown-topology", _with(topology="gke"), "topology", "'ecs' or 'eks'"),
    (
        "unknown-top-level-key",
        _with(servcies=[]),
        "servcies",
        "unknown key 'servcies' (did you mean 'services'? known: accessLog,",
    ),
    (
        "unknown-service-key",
        _service(0, prot=3000),
        "services[0].prot",
        "unknown key 'prot' (did you mean 'port'? known: command, cpu,",
    ),
    (
        "typo-upstream",
        _service(2, upstreams=["gretting", "name"]),
        "services[2].upstreams",
        "unknown service 'gretting' (did you mean 'greeting'? known: greeter, greeting, "
        "load-generator, name)",
    ),
    (
        "own-upstream",
        _service(2, upstreams=["greeter"]),
        "services[2].upstreams",
        "cannot be its own upstream",
    ),
    ("duplicate-name", _service(1, name="name"), "services[1].name", "duplicate service name"),
    ("port-string", _service(0, port="http"), "services[0].port", "valid integer"),
    ("port-zero", _service(0, port=0), "services[0].port", "greater than or equal to 1"),
    ("port-too-big", _service(0, port=70000), "services[0].port", "less than or equal to 65535"),
    ("port-envoy-ingress", _service(0, port=15000), "services[0].port", "reserved"),
    ("port-envoy-admin", _service(0, port=9901), "services[0].port", "reserved"),
    ("port-envoy-egress", _service(0, port=9003), "services[0].port", "reserved"),
    ("port-statsd", _service(0, port=8125), "services[0].port", "reserved"),
    (
        "replicas-zero",
        _service(0, replicas=0),
        "services[0].replicas",
        "greater than or equal to 1",
    ),
    ("replicas-not-int", _service(0, replicas=1.5), "services[0].replicas", "integer"),
    ("name-uppercase", _service(0, name="Name"), "services[0].name", "not a DNS label"),
    ("name-underscore", _service(0, name="my_name"), "services[0].name", "not a DNS label"),
    ("name-too-long", _service(0, name="n" * 31), "services[0].name", "at most 30"),
    ("mesh-too-long", _with(meshName="m" * 21), "meshName", "at most 20"),
    ("mesh-not-label", _with(meshName="-mesh"), "meshName", "not a DNS label"),
    ("empty-services", _with(services=[]), "services", "empty"),
    ("services-not-list", _with(services={"name": "a"}), "services", "must be a list"),
    (
        "no-services",
        {k: v for k, v in _dev().items() if k != f"{P}:services"},
        "services",
        "required",
    ),
    (
        "load-without-upstreams",
        _service(3, upstreams=[]),
        "services[3].upstreams",
        "at least one upstream",
    ),
    ("negative-rate", _service(3, rate=-1), "services[3].rate", "greater than 0"),
    ("rate-on-app", _service(0, rate=2), "services[0].rate", "only a service of kind 'load'"),
    ("load-with-port", _service(3, port=3000), "services[3].port", "no ingress"),
    ("unknown-kind", _service(0, kind="worker"), "services[0].kind", "'app' or 'load'"),
    ("entry-is-load", _with(entryService="load-generator"), "entryService", "load generator"),
    ("entry-unknown", _with(entryService="gretter"), "entryService", "unknown service 'gretter'"),
    (
        "upstream-is-load",
        _service(2, upstreams=["load-generator"]),
        "services[2].upstreams",
        "accepts no requests",
    ),
    ("upstream-twice", _service(2, upstreams=["name", "name"]), "services[2].upstreams", "twice"),
    (
        "demo-cycle",
        _services([{"name": "a", "upstreams": ["b"]}, {"name": "b", "upstreams": ["a"]}]),
        "services",
        "a -> b -> a",
    ),
    ("image-no-tag", _service(0, image="nginx"), "services[0].image", "with a tag or digest"),
    ("image-latest", _service(0, image="nginx:latest"), "services[0].image", "instead of 'latest'"),
    ("image-bad-chars", _service(0, image="Nginx:1.0"), "services[0].image", "image reference"),
    ("envoy-image-latest", _with(envoyImage="envoyproxy/envoy:latest"), "envoyImage", "latest"),
    ("env-bad-name", _service(0, env={"1X": "y"}), "services[0].env", "environment variable"),
    ("env-not-string", _service(0, env={"X": {"a": 1}}), "services[0].env.X", "string"),
    ("health-path", _service(0, healthPath="health"), "services[0].healthPath", "start with '/'"),
    (
        "fault-abort-over-100",
        _service(0, faults={"abortPercent": 101}),
        "services[0].faults.abortPercent",
        "less than or equal to 100",
    ),
    (
        "fault-abort-negative",
        _service(0, faults={"abortPercent": -5}),
        "services[0].faults.abortPercent",
        "greater than or equal to 0",
    ),
    (
        "fault-status-not-an-error",
        _service(0, faults={"abortStatus": 200}),
        "services[0].faults.abortStatus",
        "greater than or equal to 400",
    ),
    (
        "fault-status-over-599",
        _service(0, faults={"abortStatus": 600}),
        "services[0].faults.abortStatus",
        "less than or equal to 599",
    ),
    (
        "fault-status-text",
        _service(0, faults={"abortStatus": "503"}),
        "services[0].faults.abortStatus",
        "valid integer",
    ),
    (
        "fault-delay-over-100",
        _service(0, faults={"delayPercent": 150, "delayMs": 100}),
        "services[0].faults.delayPercent",
        "less than or equal to 100",
    ),
    (
        "fault-delay-without-duration",
        _service(0, faults={"delayPercent": 10}),
        "services[0].faults.delayMs",
        "above 0 when delayPercent is above 0",
    ),
    (
        "fault-delay-negative-ms",
        _service(0, faults={"delayMs": -1}),
        "services[0].faults.delayMs",
        "greater than or equal to 0",
    ),
    (
        "fault-percent-bool",
        _service(0, faults={"abortPercent": True}),
        "services[0].faults.abortPercent",
        "valid number",
    ),
    (
        "fault-unknown-key",
        _service(0, faults={"abortPct": 10}),
        "services[0].faults.abortPct",
        "unknown key",
    ),
    ("fault-not-a-map", _service(0, faults=10), "services[0].faults", "valid dictionary"),
    ("fault-on-load", _service(3, faults={}), "services[3].faults", "no ingress"),
    ("cpu-too-small", _service(0, cpu=64), "services[0].cpu", "greater than or equal to 128"),
    ("bad-dns-namespace", _with(dnsNamespace="Internal Zone"), "dnsNamespace", "not a DNS name"),
    ("bad-retention", _with(logRetentionDays=10), "logRetentionDays", "not one of"),
    ("bad-stats-profile", _with(statsProfile="minimal"), "statsProfile", "'essential' or 'full'"),
    ("bad-access-log", _with(accessLog="some"), "accessLog", "'errors', 'sampled', 'all' or 'off'"),
    (
        "sample-over-100",
        _with(accessLogSamplePercent=101),
        "accessLogSamplePercent",
        "less than or equal to 100",
    ),
    ("sample-fraction", _with(accessLogSamplePercent=0.5), "accessLogSamplePercent", "integer"),
    ("slow-negative", _with(accessLogSlowMs=-1), "accessLogSlowMs", "greater than or equal to 0"),
    ("node-count-zero", _with(nodeCount=0), "nodeCount", "greater than or equal to 1"),
    ("services-bad-json", _with(services="[{name: a"), "services", "not valid JSON"),
    # Names that break AWS or Kubernetes rules once prefixed into resource names.
    ("mesh-sg-prefix", _with(meshName="sg"), "meshName", "'sg-', which AWS reserves"),
    (
        "mesh-internal-prefix",
        _with(meshName="internal-shop"),
        "meshName",
        "'internal-', which AWS reserves",
    ),
    (
        "namespace-not-label",
        _with(kubernetesNamespace="Mesh_NS"),
        "kubernetesNamespace",
        "not a DNS label",
    ),
    (
        "namespace-too-long",
        _with(kubernetesNamespace="n" * 64),
        "kubernetesNamespace",
        "at most 63",
    ),
    # Rules of the topology (components/stack.py), before any resource all the same.
    (
        "namespace-reserved",
        _with(topology="eks", kubernetesNamespace="kube-system"),
        "kubernetesNamespace",
        "'kube-system' is reserved",
    ),
    (
        "namespace-kube-prefix",
        _with(topology="eks", kubernetesNamespace="kube-mesh"),
        "kubernetesNamespace",
        "every kube-* name",
    ),
    (
        "namespace-monitoring",
        _with(topology="eks", kubernetesNamespace="monitoring"),
        "kubernetesNamespace",
        "'monitoring' is reserved",
    ),
    (
        "task-definition-too-big",
        shop_config(
            services=[{"name": f"leaf-{i}", "port": 3000} for i in range(20)]
            + [{"name": "hub", "port": 3000, "upstreams": [f"leaf-{i}" for i in range(20)]}],
            entryService=None,
        ),
        "services[20].upstreams",
        "over ECS's limit",
    ),
    # The HTTPS certificate of the load balancer.
    (
        "certificate-not-acm",
        _with(certificateArn="arn:aws:iam::123456789012:server-certificate/x"),
        "certificateArn",
        "not an ACM certificate ARN",
    ),
    (
        "certificate-other-region",
        _with(
            certificateArn=(
                "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
            )
        ),
        "certificateArn",
        "in eu-west-1, the load balancer in us-west-2",
    ),
    (
        "certificate-without-alb",
        {k: v for k, v in _with(certificateArn=CERTIFICATE).items() if k != f"{P}:entryService"},
        "certificateArn",
        "only the ecs topology's load balancer",
    ),
    (
        "certificate-on-eks",
        _with(topology="eks", certificateArn=CERTIFICATE),
        "certificateArn",
        "only the ecs topology's load balancer",
    ),
    # Step 1 of a dnsNamespace change.
    (
        "previous-namespace-not-dns",
        _with(dnsNamespace="mesh", previousDnsNamespace="Old_NS"),
        "previousDnsNamespace",
        "not a DNS name",
    ),
    (
        "previous-namespace-same",
        _with(previousDnsNamespace="internal"),
        "previousDnsNamespace",
        "equals dnsNamespace",
    ),
    (
        "previous-namespace-on-eks",
        _with(topology="eks", previousDnsNamespace="internal"),
        "previousDnsNamespace",
        "only the ecs topology",
    ),
    # More wrong types and ranges.
    ("node-count-not-int", _with(nodeCount="two"), "nodeCount", "valid integer"),
    (
        "upstreams-not-list",
        _service(2, upstreams="greeting"),
        "services[2].upstreams",
        "must be a list",
    ),
    ("env-not-map", _service(0, env=["X=1"]), "services[0].env", "dictionary"),
    ("memory-not-int", _service(0, memory="lots"), "services[0].memory", "valid integer"),
    (
        "replicas-too-many",
        _service(0, replicas=101),
        "services[0].replicas",
        "less than or equal to 100",
    ),
    ("rate-too-high", _service(3, rate=5000), "services[3].rate", "less than or equal to 1000"),
    (
        "load-with-health-path",
        _service(3, healthPath="/health"),
        "services[3].healthPath",
        "no ingress",
    ),
    (
        "error-percent-over-100",
        _with(errorRateAlarmPercent=150),
        "errorRateAlarmPercent",
        "less than or equal to 100",
    ),
    ("latency-alarm-zero", _with(latencyAlarmMs=0), "latencyAlarmMs", "greater than or equal to 1"),
    (
        "trace-rate-over-100",
        _with(traceSampleRate=150),
        "traceSampleRate",
        "less than or equal to 100",
    ),
    (
        "trace-rate-negative",
        _with(traceSampleRate=-1),
        "traceSampleRate",
        "greater than or equal to 0",
    ),
    ("tracing-not-bool", _with(tracing="sometimes"), "tracing", "valid boolean"),
    ("app-port-otlp", _service(0, port=4318), "services[0].port", "reserved"),
    (
        "image-bad-digest",
        _service(0, image="nginx@sha256:abc"),
        "services[0].image",
        "with a tag or digest",
    ),
    (
        "agent-image-latest",
        _with(cloudwatchAgentImage="amazon/cloudwatch-agent:latest"),
        "cloudwatchAgentImage",
        "instead of 'latest'",
    ),
    # YAML's `true` is not a number (lax pydantic took it for 1).
    ("port-bool", _service(0, port=True), "services[0].port", "valid integer"),
    ("rate-bool", _service(3, rate=True), "services[3].rate", "valid number"),
    ("replicas-bool", _service(0, replicas=True), "services[0].replicas", "valid integer"),
    # The key that makes a document too big is the one named.
    (
        "task-definition-env-too-big",
        _service(0, env={"BIG": "x" * 70_000}),
        "services[0].env",
        "over ECS's limit",
    ),
    (
        "eks-env-variable-too-big",
        _eks_service(0, env={"BIG": "x" * 200_000}),
        "services[0].env",
        "MAX_ARG_STRLEN",
    ),
    (
        "eks-env-object-too-big",
        _eks_service(0, env={f"V{i}": "x" * 100_000 for i in range(12)}),
        "services[0].env",
        "over the 1048576 a Kubernetes object may hold",
    ),
]


@pytest.mark.parametrize("config, key, reason", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_names_key_and_reason(config, key, reason):
    with pytest.raises(ConfigError) as caught:
        checked_settings(config)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{P}:{key}: ")
    assert "\n" not in str(caught.value)


def test_previous_dns_namespace_empty_means_unset_and_set_resolves_both_names():
    assert settings_from_config(_with(previousDnsNamespace="")) == settings_from_config(_dev())
    settings = settings_from_config(_with(dnsNamespace="mesh", previousDnsNamespace="internal"))
    assert settings.upstream_hosts("greeting") == ("greeting.mesh", "greeting.internal")
    assert settings.registered_dns_namespace == "internal"
    assert settings_from_config(_dev()).upstream_hosts("greeting") == ("greeting.internal",)


def test_missing_region_is_named():
    config = {k: v for k, v in _dev().items() if k != "aws:region"}
    with pytest.raises(ConfigError, match=r"^aws:region: required"):
        settings_from_config(config)


def test_the_table_covers_the_issue():
    """At least 25 cases (issue 5), every one with its own id."""
    ids = [c[0] for c in BAD]
    assert len(ids) >= 25 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("config, key, reason", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_registers_no_resource(config, key, reason):
    """Under the Pulumi engine (mocks) the program stops before any resource, with the
    message the settings give for the config as Pulumi hands it over (every value a string)."""
    run = ProgramRun()
    with pytest.raises(pulumi.RunError) as caught:
        run_program(config, run=run)
    with pytest.raises(ConfigError) as refused:
        checked_settings(as_pulumi_config(config))
    assert str(caught.value) == str(refused.value)
    assert str(caught.value).startswith(f"{P}:{key}: ") and reason in str(caught.value)
    assert run.resources == []


@pytest.mark.parametrize("config, key", [c[1:3] for c in BAD], ids=[c[0] for c in BAD])
def test_render_and_run_print_the_message_and_do_nothing(
    config, key, tmp_path, capsys, monkeypatch
):
    """`meshvis render` and `meshvis run` exit 2 with the settings' one line; nothing is
    written (render's folder, run's logs) and nothing started."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(ConfigError) as refused:
        checked_settings(config)
    expected = str(refused.value)
    assert expected.startswith(f"{P}:{key}: ")
    for command in (["render", "--out", "rendered"], ["run", "--duration", "1"]):
        code = meshvis_main([*command, "--stack", "bad", "--root", str(tmp_path)])
        assert (code, capsys.readouterr().err) == (2, f"error: {expected}\n"), command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.bad.yaml"]


def test_cli_reports_the_same_message(tmp_path):
    """`python -m meshvis render` and `run` as processes: the same line on stderr, exit 2."""
    config = BAD[3][1]
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(ConfigError) as refused:
        settings_from_config(config)
    expected = str(refused.value)
    for command in (["render", "--out", str(tmp_path / "out")], ["run", "--duration", "1"]):
        done = subprocess.run(
            [sys.executable, "-m", "meshvis", *command, "--stack", "bad", "--root", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == f"error: {expected}"
        assert not (tmp_path / "out").exists()


def test_pulumi_strings_parse_like_yaml_values():
    """The CLI hands every value over as a string (objects as JSON): same settings either way."""
    for stack in stack_names():
        native = settings_from_config(stack_config(stack))
        strings = settings_from_config(as_pulumi_config(stack_config(stack)))
        assert native == strings


def test_pulumi_yaml_defaults_match_settings():
    """Pulumi.yaml declares each scalar key with the default the program itself applies.

    Keys whose default is "none" are not declared: the Pulumi CLI makes a declared key without
    a default required (tests/program/test_pulumi_cli_rules.py applies its rules)."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = {(f.alias or n): f for n, f in Settings.model_fields.items()}
    optional = {key for key, field in fields.items() if field.default is None}
    assert optional == {"region", "entryService", "certificateArn", "alertWebhookUrl"}
    # Structured keys are not declared: `services` has no default, and `slo` may be `false`,
    # which a key declared `type: object` would refuse (tests/unit/settings/test_slo_settings.py).
    assert set(declared) == set(fields) - optional - {"services", "slo"}
    for key, spec in declared.items():
        assert spec.get("description"), key
        default = fields[key].default
        assert "default" in spec and type(default)(spec["default"]) == default, key


# A key in a namespace nothing reads would otherwise be ignored without a word.
NAMESPACE_TYPO = "mesh-visibilty:meshName"
NAMESPACE_MESSAGE = (
    "mesh-visibilty:meshName: unknown namespace 'mesh-visibilty' (did you mean 'mesh-visibility'?)"
)


@pytest.mark.parametrize(
    "key, message",
    [
        (NAMESPACE_TYPO, NAMESPACE_MESSAGE),
        ("pulumni:tags", "pulumni:tags: unknown namespace 'pulumni' (did you mean 'pulumi'?)"),
        (
            "kubernetes:context",
            "kubernetes:context: unknown namespace 'kubernetes' (this program "
            "reads only mesh-visibility:, aws:, pulumi: keys)",
        ),
    ],
)
def test_unknown_namespace_stops_with_one_line(key, message):
    config = {**_dev(), key: "prod"}
    with pytest.raises(ConfigError) as caught:
        checked_settings(config)
    assert str(caught.value) == message and caught.value.key == key


def test_provider_and_cli_namespaces_are_accepted():
    """`aws:` (the provider every resource uses) and `pulumi:` (keys the CLI itself sets,
    such as `pulumi:tags`) pass; a key without a namespace is the project's, as the CLI reads
    a stack file."""
    config = {
        **_dev(),
        "aws:profile": "dev",
        "pulumi:tags": {"team": "mesh"},
        "pulumi:disable-default-providers": ["kubernetes"],
        "meshName": "plain",
    }
    del config[f"{P}:meshName"]
    assert settings_from_config(config).mesh_name == "plain"


def test_unknown_namespace_registers_nothing_and_writes_nothing(tmp_path, capsys):
    """The same line from the program under mocks (nothing registered) and `meshvis render`
    (nothing written), in process and as `python -m meshvis render`."""
    config = {**_dev(), NAMESPACE_TYPO: "prod"}
    run = ProgramRun()
    with pytest.raises(pulumi.RunError, match=f"^{re.escape(NAMESPACE_MESSAGE)}$"):
        run_program(config, run=run)
    assert run.resources == []
    (tmp_path / "Pulumi.typo.yaml").write_text(yaml.safe_dump({"config": config}))
    out = tmp_path / "out"
    command = ["render", "--stack", "typo", "--root", str(tmp_path), "--out", str(out)]
    assert meshvis_main(command) == 2
    assert capsys.readouterr().err == f"error: {NAMESPACE_MESSAGE}\n"
    done = subprocess.run(
        [sys.executable, "-m", "meshvis", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (2, f"error: {NAMESPACE_MESSAGE}\n")
    assert not out.exists()


def test_dev_stack_is_the_original_demo():
    settings = settings_from_config(stack_config("dev"))
    assert settings.topology == "ecs" and settings.region == "us-west-2"
    assert settings.entry_service == "greeter"
    graph = {s.name: (s.kind, s.replicas, s.upstreams) for s in settings.services}
    assert graph == {
        "name": ("app", 2, ()),
        "greeting": ("app", 2, ()),
        "greeter": ("app", 2, ("greeting", "name")),
        "load-generator": ("load", 1, ("greeter",)),
    }
    assert settings.service("load-generator").request_rate == 2
    assert settings.service("greeter").egress_port("name") == 9002
