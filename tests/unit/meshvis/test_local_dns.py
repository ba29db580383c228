"""The local DNS's records and rules, the discovery report and the localized bootstrap (no
processes; tests/local/test_local_dns.py runs the real server)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from components.ecs.discovery import DNS_TTL, MAX_ANSWERS
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.discovery import discovery_lines, discovery_report, resolved_hosts
from meshvis.local.dns import (
    COREDNS_TTL,
    DiscoveryRules,
    HealthWatch,
    LocalDns,
    answers,
    discovery_rules,
    dnsmasq_command,
    hosts_file,
)
from meshvis.local.localize import RESOLVER_KEY, localize
from meshvis.local.plan import plan_mesh


def _with_replicas(stack: str, service: str, replicas: int):
    config = stack_config(stack)
    for spec in config["mesh-visibility:services"]:
        if spec["name"] == service:
            spec["replicas"] = replicas
    return settings_from_config(config)


def test_rules_come_from_the_deployed_health_checks():
    """ECS: the Envoy container's health check (5 s x 3) and Cloud Map's TTL and 8-answer
    limit; EKS: the readiness probes (5 s x 3) and CoreDNS's 5 s TTL, no limit."""
    assert discovery_rules(stack_settings("dev")) == DiscoveryRules(DNS_TTL, MAX_ANSWERS, 5, 3, 3)
    assert discovery_rules(stack_settings("dev-eks")) == DiscoveryRules(COREDNS_TTL, None, 5, 2, 3)


@pytest.mark.parametrize(
    "stack, service, name",
    [
        ("dev", "greeting", "greeting.internal"),
        ("dev-eks", "nginx", "nginx.mesh.svc.cluster.local"),
    ],
)
def test_answers_are_the_healthy_replicas_under_the_deployed_name(stack, service, name):
    settings = _with_replicas(stack, service, 10)
    plan = plan_mesh(settings, block=9)
    rules = discovery_rules(settings)
    replicas = plan.of(service)
    healthy = {r.instance for r in plan.replicas} - {replicas[1].instance}
    records = answers(plan, rules, healthy)
    expected = [r.address for r in replicas if r is not replicas[1]]
    # Cloud Map MULTIVALUE: at most 8 healthy answers; a headless Service: every ready pod.
    assert records[name] == (expected[:8] if settings.topology == "ecs" else expected)
    # The deployed bootstrap resolves exactly this name.
    cluster = next(
        c
        for c in envoy_bootstrap(
            settings,
            settings.service("load-generator")
            if stack == "dev-eks"
            else settings.service("greeter"),
        )["static_resources"]["clusters"]
        if c["name"] == service
    )
    host = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert host["address"]["socket_address"]["address"].rstrip(".") == name
    assert f"{expected[0]} {name}\n" in hosts_file(records)


def test_dnsmasq_answers_from_its_file_only_with_the_ttl():
    command = dnsmasq_command(("127.9.0.1", 10053), "/run/x/hosts", 10, ["internal"])
    for flag in (
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--port=10053",
        "--listen-address=127.9.0.1",
        "--bind-interfaces",
        "--addn-hosts=/run/x/hosts",
        "--local-ttl=10",
        "--local=/internal/",
        "--keep-in-foreground",
    ):
        assert flag in command


CLUSTERS = """\
greeting::observability_name::greeting
greeting::default_priority::max_connections::1024
greeting::127.4.1.3:15000::cx_active::1
greeting::127.4.1.3:15000::health_flags::healthy
greeting::127.4.1.4:15000::health_flags::/failed_outlier_check
name::127.4.1.10:15000::cx_active::0
name::127.4.1.2:15000::cx_active::0
admin::127.4.1.5:9901::cx_active::0
"""


def test_resolved_hosts_are_read_from_clusters():
    assert resolved_hosts(CLUSTERS) == {
        "greeting": ["127.4.1.3:15000", "127.4.1.4:15000"],
        "name": ["127.4.1.2:15000", "127.4.1.10:15000"],
        "admin": ["127.4.1.5:9901"],
    }


def test_discovery_report_names_every_mismatch():
    settings = stack_settings("dev")
    plan = plan_mesh(settings, block=4)
    rules = discovery_rules(settings)
    answers_by_caller = {
        # greeter-1 resolved both replicas of each; greeter-2 lost greeting-2.
        "127.4.1.5": "".join(
            f"{u}::{r.address}:15000::cx_active::0\n"
            for u in ("greeting", "name")
            for r in plan.of(u)
        ),
        "127.4.1.6": "".join(
            f"{u}::{r.address}:15000::cx_active::0\n"
            for u in ("greeting", "name")
            for r in plan.of(u)
            if r.instance != "greeting-2"
        ),
    }

    def read(url: str) -> str:
        host = url.split("/")[2].split(":")[0]
        if host not in answers_by_caller:
            raise OSError("refused")
        return answers_by_caller[host]

    report = discovery_report(plan, rules, read)
    assert report["upstreams"]["greeting"]["configured"] == ["127.4.1.3:15000", "127.4.1.4:15000"]
    assert report["upstreams"]["greeting"]["resolved"]["greeter-1"] == [
        "127.4.1.3:15000",
        "127.4.1.4:15000",
    ]
    assert report["mismatches"] == [
        "greeter-2 -> greeting: resolved 127.4.1.3:15000; configured 127.4.1.3:15000, "
        "127.4.1.4:15000",
        "load-generator-1 -> greeter: its admin interface did not answer",
    ]
    assert discovery_lines(report)[0].startswith("DNS discovery: 2 of 5 caller -> upstream")


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_localize_changes_addresses_only_and_adds_the_resolver(stack):
    settings = stack_settings(stack)
    for service in settings.services:
        deployed = envoy_bootstrap(settings, service)
        local = localize(deployed, "127.9.1.4", ("127.9.0.1", 10053))
        resolver = local.pop(RESOLVER_KEY)
        assert resolver["typed_config"]["resolvers"] == [
            {"socket_address": {"address": "127.9.0.1", "port_value": 10053}}
        ]
        assert RESOLVER_KEY not in deployed
        changed = _differences(deployed, local)
        assert changed, service.name
        for path, old, new in changed:
            assert path.endswith("socket_address.address"), (path, old, new)
            assert (old, new) in {("127.0.0.1", "127.9.1.4"), ("0.0.0.0", "127.9.1.4")}


def _differences(old, new, path=""):
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        return [d for k in old for d in _differences(old[k], new[k], f"{path}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in _differences(a, b, path)
        ]
    return [] if old == new else [(path, old, new)]


def test_a_replica_leaves_dns_after_as_many_failed_checks_as_deployed_and_returns_after_one(
    tmp_path,
):
    settings = stack_settings("dev-eks")
    dns = LocalDns(plan_mesh(settings, block=5), tmp_path)
    down: set[str] = set()
    watch = HealthWatch(dns, check=lambda replica, timeout: replica.instance not in down)
    name = "nginx.mesh.svc.cluster.local"
    with ThreadPoolExecutor(2) as pool:
        down.add("nginx-1")
        for _ in range(dns.rules.failures - 1):
            watch.check_all(pool)
        assert dns.records()[name] == ["127.5.1.1", "127.5.1.2"]
        watch.check_all(pool)
        assert dns.records()[name] == ["127.5.1.2"]
        assert hosts_file(dns.records()) in (tmp_path / "dns-hosts").read_text()
        down.clear()
        watch.check_all(pool)
    assert dns.records()[name] == ["127.5.1.1", "127.5.1.2"]
    assert [event[1:] for event in dns.events] == [("nginx-1", "removed"), ("nginx-1", "added")]
