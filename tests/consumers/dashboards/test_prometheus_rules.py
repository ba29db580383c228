"""The alert rules and the Prometheus configuration of the EKS topology, checked by promtool.

``promtool test rules`` runs one unit test per alert, firing and not firing, on series
labelled as the sidecars label them. Debian's Prometheus is built without Kubernetes service
discovery, so the scrape job's ``kubernetes_sd_configs`` block itself can only be read by a
cluster's Prometheus; everything else of the job (scrape settings, every relabelling rule) is
checked by ``promtool check config`` and run by a real Prometheus (tests/local/
test_scrape_job.py) on targets that carry the labels Kubernetes pod discovery gives a pod's
container ports.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dashboards.prometheus import rules
from dashboards.prometheus.scrape import JOB_NAME, kubernetes_scrape_job
from meshvis.render.eks import RULES_FILE, eks_documents
from tests.support.consumers import run_promtool
from tests.support.scrape_targets import as_static, pod_targets


def _write_rendered(settings, folder: Path) -> None:
    for relative, text in eks_documents(settings).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_rendered_rules_pass_promtool_check(settings, promtool, tmp_path):
    _write_rendered(settings, tmp_path)
    done = run_promtool(promtool, "check", "rules", RULES_FILE, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # The mesh's alerts and the SLO groups' rules (tests/unit/dashboards/test_slo_rules.py).
    count = sum(len(group["rules"]) for group in rules.rules_file(settings)["groups"])
    assert count > len(rules.ALERTS) and f"SUCCESS: {count} rules found" in done.stdout


# --- promtool test rules ------------------------------------------------------------------


def _series(metric: str, values: str, **labels: str) -> dict:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{body}}}", "values": values}


def _sidecar(settings, service: str, **labels: str) -> dict[str, str]:
    return {
        "job": JOB_NAME,
        "mesh": settings.mesh_name,
        "service": service,
        "instance": f"{service}-7d9f-abcde",
        **labels,
    }


def _case(alert: str, eval_time: str, series: list[dict], expected: list[dict]) -> dict:
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": expected}],
    }


def _rule_tests(settings) -> list[dict]:
    """One firing and one quiet case per alert, for ``settings``' thresholds."""
    mesh = settings.mesh_name
    caller, upstream = "frontend", "catalog"
    cluster = {"envoy_cluster_name": upstream}
    rq_xx = "envoy_cluster_upstream_rq_xx"

    def responses(per_second_2xx: float, per_second_5xx: float, cluster_name: str = upstream):
        labels = _sidecar(settings, caller, envoy_cluster_name=cluster_name)
        return [
            _series(
                rq_xx, f"0+{per_second_2xx * 60:g}x15", **labels, envoy_response_code_class="2"
            ),
            _series(
                rq_xx, f"0+{per_second_5xx * 60:g}x15", **labels, envoy_response_code_class="5"
            ),
        ]

    fired_5xx = {
        "exp_labels": {"severity": "critical", "mesh": mesh, "service": caller, **cluster},
        "exp_annotations": {
            "summary": f"Upstream answers more than {settings.error_rate_alarm_percent:g}% 5xx.",
            "description": f"{caller} -> {upstream}: 10.0% of requests answered 5xx "
            f"over the last {rules.WINDOW}.",
        },
    }

    threshold = settings.latency_alarm_ms
    fast, slow = threshold / 2, threshold * 4

    def latency(bucket: float) -> list[dict]:
        labels = _sidecar(settings, upstream, envoy_http_conn_manager_prefix="ingress")
        metric = "envoy_http_downstream_rq_time_bucket"
        series = [_series(metric, "0+600x20", **labels, le="+Inf")]
        for le in (fast, slow):
            series.append(
                _series(metric, "0+600x20" if le >= bucket else "0x20", **labels, le=f"{le:g}")
            )
        return series

    def healthy(*values: str, cluster_name: str = upstream) -> list[dict]:
        return [
            _series(
                "envoy_cluster_membership_healthy",
                value,
                **_sidecar(
                    settings, caller, instance=f"{caller}-{i}", envoy_cluster_name=cluster_name
                ),
            )
            for i, value in enumerate(values)
        ]

    def replicas_seen(healthy_hosts: int, total_hosts: int) -> list[dict]:
        # One caller sidecar's view of a headless Service: one host per ready replica.
        labels = _sidecar(settings, caller, envoy_cluster_name=upstream)
        return [
            _series("envoy_cluster_membership_healthy", f"{healthy_hosts}x10", **labels),
            _series("envoy_cluster_membership_total", f"{total_hosts}x10", **labels),
        ]

    no_healthy_host = {
        "exp_labels": {"severity": "critical", "mesh": mesh, "service": caller, **cluster},
        "exp_annotations": {
            "summary": f"{upstream} has no healthy host: it is out.",
            "description": f"{caller} -> {upstream}: at least one sidecar of the caller "
            "sees no healthy host; its requests to that upstream fail with 503.",
        },
    }
    up = _sidecar(settings, caller)
    # histogram_quantile interpolates linearly inside the bucket that holds the 99th request.
    p99 = fast + (slow - fast) * 0.99
    return [
        _case(rules.UPSTREAM_5XX, "10m", responses(9, 1), [fired_5xx]),
        # Few errors among many requests; and a high share of very few requests.
        _case(rules.UPSTREAM_5XX, "10m", responses(999, 0.1), []),
        _case(rules.UPSTREAM_5XX, "10m", responses(0.01, 0.01), []),
        # The app behind the ingress (local_app) is not an upstream of the sidecar.
        _case(rules.UPSTREAM_5XX, "10m", responses(0, 5, cluster_name="local_app"), []),
        _case(
            rules.HIGH_LATENCY,
            "15m",
            latency(slow),
            [
                {
                    "exp_labels": {"severity": "warning", "mesh": mesh, "service": upstream},
                    "exp_annotations": {
                        "summary": f"p99 latency above {threshold} ms.",
                        "description": f"{upstream} answers 1% of its requests in more than "
                        f"{p99:.0f} ms (threshold {threshold} ms).",
                    },
                }
            ],
        ),
        _case(rules.HIGH_LATENCY, "15m", latency(fast), []),
        _case(rules.NO_HEALTHY_HOSTS, "5m", healthy("1x10", "0x10"), [no_healthy_host]),
        _case(rules.NO_HEALTHY_HOSTS, "5m", healthy("1x10", "1x10"), []),
        # One of two replicas down (not ready, or ejected): the other still serves.
        _case(rules.NO_HEALTHY_HOSTS, "5m", replicas_seen(1, 2), []),
        # Both down: ejected, or no longer in the Service's DNS answer at all.
        _case(rules.NO_HEALTHY_HOSTS, "5m", replicas_seen(0, 2), [no_healthy_host]),
        _case(rules.NO_HEALTHY_HOSTS, "5m", replicas_seen(0, 0), [no_healthy_host]),
        _case(rules.NO_HEALTHY_HOSTS, "5m", healthy("0x10", cluster_name="envoy_admin"), []),
        _case(
            rules.SIDECAR_DOWN,
            "6m",
            [_series("up", "1 1 0 0 0 0 0", **up)],
            [
                {
                    "exp_labels": {"severity": "warning", **up},
                    "exp_annotations": {
                        "summary": "An Envoy sidecar does not answer its metrics scrape.",
                        "description": f"{caller} sidecar {up['instance']} has not answered "
                        f"Prometheus for {rules.SIDECAR_DOWN_FOR}.",
                    },
                }
            ],
        ),
        # A restart that misses one scrape is not an outage.
        _case(rules.SIDECAR_DOWN, "6m", [_series("up", "1 0 1 1 1 1 1", **up)], []),
        _case(
            rules.SIDECARS_ABSENT,
            "10m",
            [_series("up", "1x10", job="other")],
            [
                {
                    "exp_labels": {"severity": "critical", "mesh": mesh, "job": JOB_NAME},
                    "exp_annotations": {
                        "summary": "Prometheus finds no Envoy sidecar at all.",
                        "description": f"No target of the scrape job {JOB_NAME} for "
                        f"{rules.SIDECARS_ABSENT_FOR}: the mesh is not running or "
                        "the scrape job does not find it.",
                    },
                }
            ],
        ),
        _case(rules.SIDECARS_ABSENT, "10m", [_series("up", "0x10", **up)], []),
    ]


def test_every_alert_fires_and_stays_quiet_under_promtool_test(settings, promtool, tmp_path):
    cases = _rule_tests(settings)
    tested = {t["alert_rule_test"][0]["alertname"] for t in cases}
    fired = {
        t["alert_rule_test"][0]["alertname"] for t in cases if t["alert_rule_test"][0]["exp_alerts"]
    }
    assert tested == fired == set(rules.ALERTS)
    _write_rendered(settings, tmp_path)
    (tmp_path / "rules_test.yaml").write_text(
        yaml.safe_dump(
            {"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": cases},
            sort_keys=False,
        )
    )
    done = run_promtool(promtool, "test", "rules", "rules_test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_config_passes_promtool_check(settings, promtool, tmp_path):
    _write_rendered(settings, tmp_path)
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job == kubernetes_scrape_job(settings.kubernetes_namespace)
    config["scrape_configs"] = [
        as_static(
            job,
            pod_targets(
                settings.kubernetes_namespace,
                {name: 1 for name in ("frontend", "ingress", "app", "load", "done")},
            ),
        )
    ]
    (tmp_path / "prometheus-static.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    done = run_promtool(promtool, "check", "config", "prometheus-static.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout + done.stderr
