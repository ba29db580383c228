"""A scenario's verdict from what was observed: alerts polled from a scripted Prometheus
answer, an alarm evaluated over scripted samples, then judged and rendered."""

from __future__ import annotations

from meshvis.local.gameday_plan import Scenario, expectation
from meshvis.local.gameday_report import judge, markdown
from meshvis.local.gameday_watch import Watch


class _Prometheus:
    """``/api/v1/alerts`` answers, one per poll."""

    def __init__(self, answers: list[list[dict]]) -> None:
        self.answers = answers

    def alerts(self) -> list[dict]:
        return self.answers.pop(0) if self.answers else []


class _Receiver:
    def timed_samples(self) -> dict:
        return {}


def _alert(name: str, state: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": name, **labels},
        "state": state,
        "activeAt": "2026-12-07T18:00:00.5Z",
    }


def _scenario() -> Scenario:
    return Scenario(
        "outage",
        "kill-all",
        "name",
        "every replica of name is killed",
        (expectation("prometheus", "MeshUpstreamNoHealthyHosts", "name"),),
        (expectation("prometheus", "MeshUpstreamNoHealthyHosts", "greeting"),),
    )


def _watch(answers: list[list[dict]]) -> Watch:
    watch = Watch(_Prometheus(answers), _Receiver(), [])
    for _ in answers[:]:
        watch.poll()
    return watch


START = 1_796_666_400.0  # 2026-12-07T18:00:00Z


def test_an_edge_alert_fired_for_the_upstream_passes_and_resolves():
    firing = _alert(
        "MeshUpstreamNoHealthyHosts", "firing", service="greeter", envoy_cluster_name="name"
    )
    watch = _watch([[firing], [firing], []])
    outcome = judge(_scenario(), watch, START, START + 30, 4_000_000_000.0, START + 40)
    assert outcome["passed"], outcome["problems"]
    (fired,) = outcome["fired"]
    assert (fired["alert"], fired["service"]) == ("MeshUpstreamNoHealthyHosts", "name")
    assert outcome["time_to_recover_s"] == 10.0
    assert "| outage | name | yes |" in markdown(
        {
            "stack": "dev",
            "passed": True,
            "time_scale": 6,
            "duration_s": 1,
            "started_at": "now",
            "scenarios": [{**outcome, "health_at_worst": {"name": "down"}}],
        }
    )


def test_an_alert_for_the_wrong_service_is_noisy_and_the_culprit_missed():
    wrong = _alert(
        "MeshUpstreamNoHealthyHosts", "firing", service="greeter", envoy_cluster_name="greeting"
    )
    watch = _watch([[wrong], [wrong]])
    outcome = judge(_scenario(), watch, START, START + 30, 4_000_000_000.0, None)
    assert not outcome["passed"]
    assert outcome["problems"] == [
        "missed prometheus MeshUpstreamNoHealthyHosts (name)",
        "noisy prometheus MeshUpstreamNoHealthyHosts (greeting)",
        "not every service was healthy again by the end of the recovery",
    ]


def test_an_alert_active_before_the_fault_belongs_to_an_earlier_scenario():
    old = _alert("MeshUpstreamNoHealthyHosts", "firing", service="g", envoy_cluster_name="name")
    watch = _watch([[old]])
    outcome = judge(_scenario(), watch, START + 1, START + 30, 4_000_000_000.0, START + 40)
    assert outcome["fired"] == [] and not outcome["passed"]
