"""The health model (pure): failures pinned on the service that fails, not on its callers."""

from __future__ import annotations

import itertools

import pytest

from components.settings.validate import settings_from_config
from components.stack import stack_settings
from meshvis.local.health import (
    DEGRADED,
    DOWN,
    OK,
    Observed,
    assess,
    causes,
    observed_live,
    observed_run,
)

DEV = stack_settings("dev")  # load-generator -> greeter -> greeting, name; 2 replicas each
HEALTHY = Observed(error_ratio=0.0, p99_ms=12.0, sidecars_up=2)


def _edge(source: str, target: str, error_ratio: float | None = 0.0, p99_ms=10.0) -> dict:
    return {"source": source, "target": target, "error_ratio": error_ratio, "p99_ms": p99_ms}


DEV_EDGES = [_edge("load-generator", "greeter"), _edge("greeter", "greeting")]


def test_thresholds_are_the_stacks_alarm_settings():
    assert (DEV.error_rate_alarm_percent, DEV.latency_alarm_ms) == (5.0, 1000)


def test_healthy_mesh_is_ok_everywhere():
    health = assess(
        DEV,
        dict.fromkeys(("greeter", "greeting", "name"), HEALTHY),
        [*DEV_EDGES, _edge("greeter", "name")],
    )
    assert health == {
        name: {"state": OK, "reasons": [], "culprit_edges": []}
        for name in ("name", "greeting", "greeter")
    }


def test_a_caller_blames_a_down_upstream_its_envoy_no_longer_calls():
    """Once the caller's outlier detection ejects every host of a frozen upstream, its Envoy
    answers 503 itself (no healthy upstream): the edge counts no 5xx, yet the caller's errors
    are the upstream's doing (seen for real in tests/local/test_health_attribution.py)."""
    observed = {
        "greeter": Observed(error_ratio=0.08, p99_ms=9.5, sidecars_up=2),
        "greeting": HEALTHY,
        "name": Observed(sidecars_up=0),
    }
    edges = [*DEV_EDGES, _edge("greeter", "name", None, None)]
    health = assess(DEV, observed, edges)
    assert health["name"]["state"] == DOWN
    assert health["greeter"] == {
        "state": DEGRADED,
        "reasons": ["upstream name down: no answer on greeter -> name"],
        "culprit_edges": [("greeter", "name")],
    }


def test_frozen_service_is_down_and_its_caller_names_the_failing_edge():
    """name's sidecars answer no scrape (up 0) and it has no samples; greeter answers 5xx
    because its calls to name fail."""
    observed = {
        "greeter": Observed(error_ratio=0.72, p99_ms=3000.0, sidecars_up=2),
        "greeting": HEALTHY,
        "name": Observed(sidecars_up=0),
    }
    edges = [
        _edge("load-generator", "greeter", 0.72, 3000.0),
        _edge("greeter", "greeting"),
        _edge("greeter", "name", 0.79, 3000.0),
    ]
    health = assess(DEV, observed, edges)
    assert health["name"]["state"] == DOWN
    assert health["name"]["reasons"][0] == "no sidecar answers its scrape (0 of 2 up)"
    assert health["name"]["culprit_edges"] == []
    assert health["greeter"] == {
        "state": DEGRADED,
        "reasons": ["upstream name failing: 79 % 5xx on greeter -> name"],
        "culprit_edges": [("greeter", "name")],
    }
    assert health["greeting"]["state"] == OK


def test_no_scrape_at_all_is_down():
    health = assess(DEV, {"greeter": HEALTHY, "greeting": HEALTHY}, DEV_EDGES)
    assert health["name"] == {
        "state": DOWN,
        "reasons": ["Prometheus has no scrape of its sidecars"],
        "culprit_edges": [],
    }


def test_partial_replicas_are_degraded():
    observed = {"greeter": HEALTHY, "greeting": HEALTHY, "name": Observed(0.0, 12.0, 1)}
    health = assess(DEV, observed, [*DEV_EDGES, _edge("greeter", "name")])
    assert health["name"]["state"] == DEGRADED
    assert health["name"]["reasons"] == ["1 of 2 sidecars answer their scrape"]
    assert health["greeter"]["state"] == OK


def test_own_errors_and_latency_against_the_alarm_thresholds():
    observed = {
        "greeter": HEALTHY,
        "greeting": Observed(error_ratio=0.1, p99_ms=1500.0, sidecars_up=2),
        "name": Observed(error_ratio=1.0, p99_ms=3.0, sidecars_up=2),
    }
    health = assess(DEV, observed, [*DEV_EDGES, _edge("greeter", "name")])
    assert health["greeting"]["state"] == DEGRADED
    assert health["greeting"]["reasons"] == [
        "answers 10 % 5xx (alarm at 5 %)",
        "p99 1500 ms (alarm at 1000 ms)",
    ]
    # Nothing but 5xx, and no upstream to blame.
    assert health["name"] == {
        "state": DOWN,
        "reasons": ["answers 100 % 5xx (alarm at 5 %)"],
        "culprit_edges": [],
    }


def test_a_service_its_callers_get_failures_from_is_blamed_without_figures_of_its_own():
    """A frozen app behind a live sidecar: the sidecar answers its scrape but counts no
    answers; greeter's calls to name all fail."""
    observed = {
        "greeter": Observed(0.5, 3000.0, 2),
        "greeting": HEALTHY,
        "name": Observed(sidecars_up=2),
    }
    health = assess(DEV, observed, [*DEV_EDGES, _edge("greeter", "name", 1.0, 3000.0)])
    assert health["name"] == {
        "state": DOWN,
        "reasons": ["greeter gets 100 % 5xx from it (greeter -> name)"],
        "culprit_edges": [],
    }
    assert health["greeter"]["state"] == DEGRADED
    assert health["greeter"]["culprit_edges"] == [("greeter", "name")]


def _chain(length: int):
    names = [f"s{i}" for i in range(length)]
    services = [
        {"name": name, "port": 3000, **({"upstreams": [names[i + 1]]} if i + 1 < length else {})}
        for i, name in enumerate(names)
    ]
    services.append({"name": "load", "kind": "load", "upstreams": [names[0]]})
    config = {
        "aws:region": "us-west-2",
        "mesh-visibility:meshName": "chain",
        "mesh-visibility:services": services,
    }
    return settings_from_config(config), names


def test_in_a_chain_every_caller_points_down_to_the_failing_leaf():
    settings, names = _chain(4)
    observed = {n: Observed(0.8, 3000.0, 1) for n in names[:3]}
    observed["s3"] = Observed(sidecars_up=0)
    edges = [_edge(a, b, 0.8, 3000.0) for a, b in itertools.pairwise(names)]
    health = assess(settings, observed, [_edge("load", "s0", 0.8), *edges])
    assert health["s3"]["state"] == DOWN
    assert [health[n]["state"] for n in names[:3]] == [DEGRADED] * 3
    assert health["s2"]["reasons"] == ["upstream s3 failing: 80 % 5xx on s2 -> s3"]
    assert health["s0"]["reasons"] == ["upstream s1 failing: 80 % 5xx on s0 -> s1 (caused by s3)"]
    assert health["s0"]["culprit_edges"] == [("s0", "s1"), ("s1", "s2"), ("s2", "s3")]


def test_a_slow_upstream_is_blamed_for_its_callers_latency():
    observed = {"greeter": Observed(0.0, 1800.0, 2), "greeting": HEALTHY}
    observed["name"] = Observed(0.0, 1700.0, 2)
    health = assess(DEV, observed, [*DEV_EDGES, _edge("greeter", "name", 0.0, 1750.0)])
    assert health["greeter"]["reasons"] == [
        "upstream name slow: p99 1750 ms (alarm at 1000 ms) on greeter -> name"
    ]
    assert health["name"]["reasons"] == ["p99 1700 ms (alarm at 1000 ms)"]


def test_absent_figures_stay_absent():
    """No samples is None, never 0 % errors (100 % success)."""
    live = observed_live({"name": {"sidecars_up": 0.0}, "greeter": {"success_pct": 80.0}})
    assert live["name"] == Observed(None, None, 0)
    assert live["greeter"].error_ratio == pytest.approx(0.2)
    run = observed_run(
        {"name": {"success_rate": None, "p99_ms": None, "sidecars_up": 0, "requests": None}}
    )
    assert run["name"] == Observed(None, None, 0)


def test_the_cause_is_the_end_of_the_failing_chain():
    settings, names = _chain(3)
    observed = {n: Observed(0.8, 30.0, 1) for n in names}
    edges = [_edge(a, b, 0.8) for a, b in itertools.pairwise(names)]
    assert causes(assess(settings, observed, edges)) == {"s2"}
    assert causes(assess(DEV, dict.fromkeys(("greeter", "greeting", "name"), HEALTHY), [])) == set()
