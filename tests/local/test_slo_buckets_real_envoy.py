"""A real Envoy reports the SLO latency boundaries on its ingress request-time histogram.

Envoy's default buckets have no 300 ms boundary; the bootstrap's ``histogram_bucket_settings``
(components/sidecar/bootstrap.py) gives the ingress ``downstream_rq_time`` every boundary an
SLO may use (components/settings/slo.py), and the Prometheus output is what the SLO rules read.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from contextlib import closing

import pytest

from components.settings.ports import INGRESS_PORT, METRICS_PORT
from components.settings.slo import SLO_LATENCY_MS
from components.sidecar.bootstrap import envoy_bootstrap
from components.stack import stack_settings
from meshvis.local.localize import localize
from meshvis.local.plan import DNS_PORT, block_address, claim_block
from meshvis.local.processes import ProcessGroup, wait_http

# The bootstrap flushes stats every 10 s; histogram buckets show the last flush.
FLUSH_DEADLINE_S = 25.0
INGRESS_BUCKET = re.compile(
    r'^envoy_http_downstream_rq_time_bucket\{[^}]*envoy_http_conn_manager_prefix="ingress"'
    r'[^}]*le="([^"]+)"\} (\d+)',
    re.MULTILINE,
)


@pytest.mark.integration
def test_ingress_histogram_has_every_slo_boundary(tmp_path, envoy_binary):
    settings = stack_settings("dev")
    block, lock = claim_block()
    address = block_address(block, 1)
    local = localize(
        envoy_bootstrap(settings, settings.service("name")),
        address,
        (block_address(block, 0), DNS_PORT),
    )
    metrics = f"http://{address}:{METRICS_PORT}"
    with closing(lock), ProcessGroup() as group:
        group.start_envoy("name-envoy", local, tmp_path / "envoy.log", envoy_binary)
        wait_http(f"{metrics}/ready", group)
        # No app behind it: Envoy answers 503 itself, and times the request all the same.
        try:
            urllib.request.urlopen(f"http://{address}:{INGRESS_PORT}/", timeout=5)
        except urllib.error.HTTPError as err:
            assert err.code == 503
        buckets: dict[str, int] = {}
        deadline = time.monotonic() + FLUSH_DEADLINE_S
        while time.monotonic() < deadline and buckets.get("+Inf", 0) < 1:
            group.check_alive()
            with urllib.request.urlopen(f"{metrics}/stats/prometheus", timeout=5) as response:
                body = response.read().decode()
            buckets = {le: int(count) for le, count in INGRESS_BUCKET.findall(body)}
            time.sleep(0.5)
    assert buckets.get("+Inf") == 1, buckets
    assert {str(ms) for ms in SLO_LATENCY_MS} <= set(buckets), sorted(buckets)
    assert buckets["300"] == 1
