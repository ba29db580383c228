"""A service's ``faults`` key on a real Envoy: its own ingress answers the fault, counts it in
the stats the dashboards read, and a running sidecar's fault changes through its loopback
admin interface without a restart (meshvis/local/faults.py).

One sidecar per case, the stack's own bootstrap localized to a loopback block, a stub app
behind it. Figures are Envoy's own: its counters and its request-time histogram on the metrics
listener Prometheus scrapes; nothing here times a request by the wall clock.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from components.settings.ports import ADMIN_PORT, INGRESS_PORT, METRICS_PORT
from components.settings.stack_files import PROJECT_ROOT as ROOT
from components.sidecar.bootstrap import envoy_bootstrap
from components.sidecar.command import admin_command_script
from components.sidecar.faults import (
    ABORT_PERCENT_KEY,
    cleared_overrides,
    runtime_modify_path,
    runtime_overrides,
)
from components.sidecar.names import LB_HEALTH_PATH
from meshvis.local.faults import (
    FaultError,
    clear_fault,
    current_faults,
    fault_command,
    publish_sidecars,
    set_fault,
)
from meshvis.local.localize import localize
from meshvis.local.plan import DNS_PORT, LocalPlan, LocalReplica, block_address, claim_block
from meshvis.local.processes import ProcessGroup, wait_http
from tests.support.fault_cases import with_faults
from tests.support.ssm_split import split as ecs_exec_split

pytestmark = pytest.mark.integration

STUB_APP = Path(__file__).resolve().parents[1] / "support" / "stub_app.py"
REQUESTS = 20
# Two of the bootstrap's 10 s stats flushes.
HISTOGRAM_WAIT = 25.0


class Sidecar:
    """One replica's sidecar and stub app, on its own loopback address."""

    def __init__(
        self,
        group: ProcessGroup,
        tmp: Path,
        block: int,
        stack: str,
        faults: dict,
        behind_load_balancer: bool = False,
    ):
        self.address = block_address(block, 1)
        settings, self.service = with_faults(stack, None, faults)
        if behind_load_balancer:
            # What EcsMeshService does for the service it attaches to a load balancer.
            settings = settings.model_copy(update={"entry_service": self.service.name})
        self.plan = LocalPlan(
            settings,
            (LocalReplica(self.service, 1, self.address),),
            self.service.name,
            (block_address(block, 0), DNS_PORT),
        )
        local = localize(
            envoy_bootstrap(settings, self.service),
            self.address,
            (block_address(block, 0), DNS_PORT),
        )
        group.start(
            "app",
            [sys.executable, str(STUB_APP), str(self.service.app_port)],
            tmp / "app.log",
            {"HOST": self.address},
        )
        self.envoy = group.start_envoy("envoy", local, tmp / "envoy.log")
        wait_http(f"http://{self.address}:{ADMIN_PORT}/ready", group)
        wait_http(f"http://{self.address}:{METRICS_PORT}/ready", group)

    def statuses(self, count: int = REQUESTS, path: str = "/") -> list[int]:
        """The statuses of ``count`` requests to the ingress, one after another."""
        found = []
        for _ in range(count):
            try:
                with urllib.request.urlopen(
                    f"http://{self.address}:{INGRESS_PORT}{path}", timeout=10
                ) as response:
                    found.append(response.status)
            except urllib.error.HTTPError as err:
                found.append(err.code)
        return found

    def metrics(self) -> str:
        """What Prometheus scrapes from this sidecar."""
        url = f"http://{self.address}:{METRICS_PORT}/stats/prometheus"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def ingress(self, metric: str, **labels: str) -> dict[str, float]:
        """Samples of ``metric`` on the ingress listener, by their label set."""
        found = {}
        for line in self.metrics().splitlines():
            if not line.startswith(metric + "{"):
                continue
            names, value = line.rsplit(" ", 1)
            tags = dict(re.findall(r'(\w+)="([^"]*)"', names))
            if tags.get("envoy_http_conn_manager_prefix") != "ingress":
                continue
            if all(tags.get(k) == v for k, v in labels.items()):
                found[names] = float(value)
        return found

    def ingress_count(self, code_class: str) -> float:
        """``envoy_http_downstream_rq_xx`` of the ingress for one response code class: the
        series the dashboards, alarms and alert rules read (``downstream_rq_xx``)."""
        return sum(
            self.ingress(
                "envoy_http_downstream_rq_xx", envoy_response_code_class=code_class
            ).values()
        )


@pytest.fixture
def run(tmp_path):
    """Start a sidecar: ``run(stack, faults)``; everything stops after the test."""
    block, lock = claim_block()
    with closing(lock), ProcessGroup() as group:
        yield lambda stack, faults, **kw: Sidecar(group, tmp_path, block, stack, faults, **kw)


def test_the_load_balancers_health_route_is_exempt_from_faults(run):
    """An aborted entry must not fail the ALB's health checks (the target group would replace
    its tasks instead of showing callers the fault): its route to the app's health path
    carries an empty per-route fault config, so it answers 200 with every request aborted,
    whether the abort comes from the stack's key or the admin runtime."""
    sidecar = run("dev", {"abortPercent": 100, "abortStatus": 503}, behind_load_balancer=True)
    assert sidecar.statuses() == [503] * REQUESTS
    assert sidecar.statuses(path=LB_HEALTH_PATH) == [200] * REQUESTS
    set_fault(sidecar.address, ADMIN_PORT, abort_percent=100, abort_status=500)
    set_fault(sidecar.address, ADMIN_PORT, delay_percent=100, delay_ms=1)
    assert sidecar.statuses() == [500] * REQUESTS
    assert sidecar.statuses(path=LB_HEALTH_PATH) == [200] * REQUESTS


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_abort_is_the_services_own_5xx_and_changes_at_run_time(run, stack):
    sidecar = run(stack, {"abortPercent": 100, "abortStatus": 503})
    host = sidecar.address
    assert sidecar.statuses() == [503] * REQUESTS
    assert (sidecar.ingress_count("5"), sidecar.ingress_count("2")) == (REQUESTS, 0)

    # Lowered to 0 and raised again, then another status, on the running process.
    pid = sidecar.envoy.pid
    assert set_fault(host, ADMIN_PORT, abort_percent=0) == {ABORT_PERCENT_KEY: "0"}
    assert sidecar.statuses() == [200] * REQUESTS
    set_fault(host, ADMIN_PORT, abort_percent=100, abort_status=500)
    assert sidecar.statuses() == [500] * REQUESTS
    assert (sidecar.ingress_count("5"), sidecar.ingress_count("2")) == (2 * REQUESTS, REQUESTS)
    # Cleared: the stack's own faults key applies again.
    assert clear_fault(host, ADMIN_PORT) == {}
    assert sidecar.statuses() == [503] * REQUESTS
    assert sidecar.envoy.alive() and sidecar.envoy.pid == pid


def test_a_fault_is_raised_from_nothing_and_cleared(run):
    """``faults: {}``: the filter is there, injecting nothing, until a game day raises it."""
    sidecar = run("dev", {})
    host = sidecar.address
    assert sidecar.statuses() == [200] * REQUESTS
    # A non-whole percent travels as a FractionalPercent (a decimal would be truncated).
    set_fault(host, ADMIN_PORT, abort_percent=99.5)
    assert current_faults(host, ADMIN_PORT) == {
        ABORT_PERCENT_KEY: "{numerator: 995000, denominator: MILLION}"
    }
    set_fault(host, ADMIN_PORT, abort_percent=100)
    assert sidecar.statuses() == [503] * REQUESTS
    clear_fault(host, ADMIN_PORT)
    assert sidecar.statuses() == [200] * REQUESTS
    assert sidecar.ingress_count("5") == REQUESTS


def test_delay_shows_in_the_ingress_request_time_histogram(run):
    """Every delayed request lands above the delay in Envoy's own ``downstream_rq_time``, the
    histogram the latency panels, alerts and SLOs read."""
    delay_ms = 200
    sidecar = run("dev-eks", {"delayPercent": 100, "delayMs": delay_ms})
    assert sidecar.statuses() == [200] * REQUESTS

    def histogram() -> dict[float, float]:
        buckets = sidecar.ingress("envoy_http_downstream_rq_time_bucket")
        return {float(re.findall(r'le="([^"]+)"', k)[0]): v for k, v in buckets.items()}

    # Envoy merges the workers' histograms for the admin interface at its stats flush; a merge
    # holds some of the requests, not always all of them.
    deadline = time.monotonic() + HISTOGRAM_WAIT
    while not histogram().get(float("inf")) and time.monotonic() < deadline:
        time.sleep(1)
    buckets = histogram()
    assert 0 < buckets[float("inf")] <= REQUESTS
    faster = [le for le in buckets if le < delay_ms]
    assert faster and all(buckets[le] == 0 for le in faster), buckets


def test_a_sidecar_without_faults_has_no_filter_and_refuses_a_fault(run):
    sidecar = run("dev", None)
    with pytest.raises(FaultError, match="No admin layer specified"):
        set_fault(sidecar.address, ADMIN_PORT, abort_percent=100)
    assert sidecar.statuses(5) == [200] * 5


def test_meshvis_fault_changes_the_running_sidecars_of_a_run(run, tmp_path, capsys):
    """What ``meshvis fault --stack dev name ...`` does once a run has published its sidecars
    (the runner does it as soon as they are up)."""
    sidecar = run("dev", {})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    publish_sidecars(run_dir, sidecar.plan)
    assert fault_command(run_dir, "name", abort_percent=100, abort_status=502) == 0
    assert capsys.readouterr().out == (
        f"name-1 ({sidecar.address}:{ADMIN_PORT}): fault.http.abort.abort_percent=100, "
        "fault.http.abort.http_status=502\n"
    )
    assert sidecar.statuses() == [502] * REQUESTS
    assert fault_command(run_dir, "name") == 0
    assert "abort_percent=100" in capsys.readouterr().out
    assert fault_command(run_dir, "name", clear=True) == 0
    assert "the stack's `faults` key applies" in capsys.readouterr().out
    assert sidecar.statuses() == [200] * REQUESTS
    # A value the key refuses changes nothing.
    assert fault_command(run_dir, "name", abort_percent=101) == 2
    assert capsys.readouterr().err == (
        "error: abortPercent: Input should be less than or equal to 100 (got 101)\n"
    )
    assert sidecar.statuses(5) == [200] * 5


def test_the_documented_kubectl_script_raises_a_fault(run):
    """docs/faults.md's script, which EKS users run in the envoy container (bash, no curl),
    works on the real Envoy: aimed at this replica's loopback instead of the pod's."""
    sidecar = run("dev-eks", {})
    path = runtime_modify_path(runtime_overrides(abort_percent=10, abort_status=503))
    script = admin_command_script("POST", path, ADMIN_PORT)
    assert script in (ROOT / "docs" / "faults.md").read_text()
    raised = script.replace("abort_percent=10", "abort_percent=100")
    local = raised.replace("/dev/tcp/127.0.0.1/", f"/dev/tcp/{sidecar.address}/")
    subprocess.run(["bash", "-c", local], check=True, timeout=10)
    assert sidecar.statuses(5) == [503] * 5


def _documented_ecs_exec_commands() -> dict[str, str]:
    """The ``--command`` values of docs/faults.md's ECS Exec block, as the reader's shell sets
    them: bash runs the block up to its loop over the tasks (which calls AWS) and prints them."""
    text = (ROOT / "docs" / "faults.md").read_text()
    section = text[text.index("### On ECS") :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    setup = block[: block.index("\nfor task in ")]
    printed = subprocess.run(
        ["bash", "-c", setup + '\nprintf "%s\\0%s" "$raise" "$clear"'],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    raised, cleared = printed.split("\0")
    return {"raise": raised, "clear": cleared}


def test_the_documented_ecs_exec_commands_raise_and_clear_a_fault(run):
    """docs/faults.md's ``aws ecs execute-command --command`` values, split into words as ECS
    Exec's SSM agent splits them (google/shlex, no shell: tests/support/ssm_split.py), are
    ``bash -c`` and the admin script; run as the agent runs them (aimed at this replica's
    loopback instead of the task's), they raise a fault on the real Envoy and clear it."""
    sidecar = run("dev", {})
    commands = _documented_ecs_exec_commands()
    expected = {
        "raise": runtime_overrides(abort_percent=10, abort_status=503),
        "clear": cleared_overrides(),
    }
    words = {name: ecs_exec_split(command) for name, command in commands.items()}
    for name, overrides in expected.items():
        script = admin_command_script("POST", runtime_modify_path(overrides), ADMIN_PORT)
        assert words[name] == ["bash", "-c", script], name

    def run_as_ecs_exec(argv: list[str]) -> None:
        local = argv[2].replace("/dev/tcp/127.0.0.1/", f"/dev/tcp/{sidecar.address}/")
        subprocess.run([*argv[:2], local], check=True, timeout=10)

    assert sidecar.statuses(5) == [200] * 5
    raised = words["raise"][2].replace("abort_percent=10", "abort_percent=100")
    run_as_ecs_exec([*words["raise"][:2], raised])
    assert sidecar.statuses(5) == [503] * 5
    run_as_ecs_exec(words["clear"])
    assert sidecar.statuses(5) == [200] * 5
