"""The EKS scrape job's relabelling, run by a real Prometheus on pod-labelled static targets."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from dashboards.prometheus.scrape import JOB_NAME, kubernetes_scrape_job
from meshvis.local.processes import ProcessGroup, free_ports, wait_http
from tests.support.scrape_targets import as_static, pod_targets

PROMETHEUS = Path("/usr/bin/prometheus")


@pytest.mark.integration
def test_relabelling_keeps_only_sidecar_metrics_ports_on_a_real_prometheus(tmp_path):
    namespace = "shop-mesh"
    port, *targets = free_ports(6)
    ports = dict(zip(("frontend", "ingress", "app", "load", "done"), targets, strict=True))
    config = {
        "global": {"scrape_interval": "1m"},
        "scrape_configs": [
            as_static(kubernetes_scrape_job(namespace), pod_targets(namespace, ports))
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"http://127.0.0.1:{port}"
    with ProcessGroup() as group:
        group.start(
            "prometheus",
            [
                str(PROMETHEUS),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                "--log.level=warn",
            ],
            tmp_path / "prometheus.log",
        )
        wait_http(f"{url}/-/ready", group, timeout=30)
        # Discovery reaches the scrape manager shortly after start-up: wait, boundedly, until
        # all five targets are sorted into kept and dropped.
        deadline = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as response:
                body = json.load(response)["data"]
            found = len(body["activeTargets"]) + len(body["droppedTargets"])
            if found == len(ports) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    active = sorted((t["labels"] for t in body["activeTargets"]), key=lambda l: l["pod"])
    assert active == [
        {
            "job": JOB_NAME,
            "instance": "frontend-5c8d-x1",
            "pod": "frontend-5c8d-x1",
            "namespace": namespace,
            "service": "frontend",
            "mesh": "shop",
        },
        {
            "job": JOB_NAME,
            "instance": "load-66b4-z9",
            "pod": "load-66b4-z9",
            "namespace": namespace,
            "service": "load",
            "mesh": "shop",
        },
    ]
    assert {t["scrapeUrl"] for t in body["activeTargets"]} == {
        f"http://127.0.0.1:{ports[name]}/stats/prometheus" for name in ("frontend", "load")
    }
    assert len(body["droppedTargets"]) == 3
