"""Raise, change and clear a service's faults while ``meshvis run`` runs, without a restart.

A sidecar whose service has a ``faults`` key carries Envoy's fault filter and an admin runtime
layer (components/sidecar/faults.py); its loopback admin interface's ``/runtime_modify``
changes the filter's percents, status and delay at once, as on a deployed task or pod
(docs/faults.md). A run publishes where its sidecars' admin interfaces are
(``publish_sidecars``, a file in the run folder) so that another command can find them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TypedDict

from components.settings.ports import ADMIN_PORT
from components.sidecar.faults import (
    ADMIN_LAYER,
    RUNTIME_KEYS,
    cleared_overrides,
    runtime_modify_path,
    runtime_overrides,
)
from meshvis.local.plan import LocalPlan

SIDECARS_FILE = "sidecars.json"
TIMEOUT = 5.0


class _FaultChanges(TypedDict):
    """The run-time faults ``meshvis fault`` sets (None: unchanged), by keyword."""

    abort_percent: float | None
    abort_status: int | None
    delay_percent: float | None
    delay_ms: int | None


class FaultError(RuntimeError):
    """A fault could not be set or read; the message is one line for the user."""


def set_fault(
    admin_host: str,
    admin_port: int,
    *,
    abort_percent: float | None = None,
    abort_status: int | None = None,
    delay_percent: float | None = None,
    delay_ms: int | None = None,
) -> dict[str, str]:
    """Set the given faults (None: unchanged) on the sidecar whose admin interface is
    ``admin_host:admin_port`` (loopback only) and return its fault keys' values as it now
    reads them. Raises ``ValueError`` on a value the ``faults`` key would refuse and
    ``FaultError`` when the sidecar refuses or does not answer."""
    return _modify(
        admin_host,
        admin_port,
        runtime_overrides(abort_percent, abort_status, delay_percent, delay_ms),
    )


def clear_fault(admin_host: str, admin_port: int) -> dict[str, str]:
    """Drop every run-time fault override of one sidecar: it injects its bootstrap's faults
    (the stack's ``faults`` key) again. Returns the keys' values as it now reads them."""
    return _modify(admin_host, admin_port, cleared_overrides())


def current_faults(admin_host: str, admin_port: int) -> dict[str, str]:
    """The run-time overrides of one sidecar's fault keys, as its admin layer holds them
    (a key absent: the bootstrap's value applies)."""
    runtime = json.loads(_admin(admin_host, admin_port, "GET", "/runtime?format=json"))
    layer = runtime["layers"].index(ADMIN_LAYER)
    entries = runtime.get("entries", {})
    found = {key: entries[key]["layer_values"][layer] for key in RUNTIME_KEYS if key in entries}
    return {key: value for key, value in found.items() if value}


def _modify(host: str, port: int, params: dict[str, str]) -> dict[str, str]:
    if not params:
        raise ValueError("no fault to set: give a percent, a status or a delay")
    body = _admin(host, port, "POST", runtime_modify_path(params))
    if body.strip() != "OK":
        raise FaultError(f"{host}:{port}: /runtime_modify answered {body.strip()!r}")
    now = current_faults(host, port)
    # An empty value removes the key: it must be gone, every other one read back as sent.
    wrong = {k: now.get(k) for k, v in params.items() if now.get(k) != (v or None)}
    if wrong:
        raise FaultError(f"{host}:{port}: the runtime reads {wrong} after /runtime_modify")
    return now


def _admin(host: str, port: int, method: str, path: str) -> str:
    """One request to a sidecar's admin interface, which is on loopback only."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address: a sidecar's admin is on loopback")
    request = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read().decode()
    except urllib.error.HTTPError as err:
        # 503 "No admin layer specified": a sidecar without a fault filter.
        reason = err.read().decode().strip()
        where = f"{host}:{port}{path.split('?')[0]}"
        raise FaultError(f"{where} answered {err.code}: {reason}") from None
    except OSError as err:
        raise FaultError(f"{host}:{port} does not answer ({err})") from None


def publish_sidecars(run_dir: Path, plan: LocalPlan) -> Path:
    """Write where every app sidecar of the run's mesh has its admin interface, and which of
    them have a fault filter, into ``run_dir`` (read by ``run_sidecars``)."""
    sidecars = [
        {
            "service": r.service.name,
            "instance": r.instance,
            "admin": [r.address, ADMIN_PORT],
            "faults": r.service.faults is not None,
        }
        for r in plan.replicas
        if not r.service.is_load
    ]
    path = run_dir / SIDECARS_FILE
    scratch = path.with_suffix(".tmp")
    published = {"runner_pid": os.getpid(), "dns": list(plan.dns_server), "sidecars": sidecars}
    scratch.write_text(json.dumps(published, indent=1))
    scratch.replace(path)
    return path


def run_sidecars(run_dir: Path, service: str) -> list[tuple[str, str, int]]:
    """``(instance, admin host, admin port)`` of every replica of ``service`` in the run that
    holds ``run_dir`` now. Raises ``FaultError`` if no run is there, the service is not in
    it, or it has no ``faults`` key (so no fault filter to change)."""
    published = published_run(run_dir)
    replicas = [s for s in published["sidecars"] if s["service"] == service]
    if not replicas:
        known = ", ".join(sorted({s["service"] for s in published["sidecars"]}))
        raise FaultError(f"the run in {run_dir} has no service {service!r} (known: {known})")
    if not replicas[0]["faults"]:
        raise FaultError(
            f"{service} has no `faults` key in the running stack, so its sidecars have no "
            "fault filter: add `faults: {}` to it and start the run again"
        )
    return [(s["instance"], s["admin"][0], s["admin"][1]) for s in replicas]


def published_run(run_dir: Path) -> dict:
    """What the run holding ``run_dir`` published (``publish_sidecars``). Raises
    ``FaultError`` if no run published there or that run has ended."""
    try:
        published = json.loads((run_dir / SIDECARS_FILE).read_text())
    except (OSError, ValueError):
        raise FaultError(f"no meshvis run has published its sidecars in {run_dir}") from None
    if not _alive(published["runner_pid"]):
        raise FaultError(f"the run in {run_dir} has ended (runner pid {published['runner_pid']})")
    return published


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fault_command(
    run_dir: Path,
    service: str,
    *,
    clear: bool = False,
    abort_percent: float | None = None,
    abort_status: int | None = None,
    delay_percent: float | None = None,
    delay_ms: int | None = None,
) -> int:
    """``meshvis fault``: set (or ``clear``, or with nothing given show) the run-time faults
    of every replica of ``service`` in the run holding ``run_dir``; one line per replica.
    Returns the exit code: 0, 2 for a value the ``faults`` key refuses, 1 otherwise."""
    changes: _FaultChanges = {
        "abort_percent": abort_percent,
        "abort_status": abort_status,
        "delay_percent": delay_percent,
        "delay_ms": delay_ms,
    }
    try:
        if clear and any(value is not None for value in changes.values()):
            raise ValueError("--clear takes no fault values: clear, then set")
        runtime_overrides(**changes)  # every value checked before any sidecar changes
        for instance, host, port in run_sidecars(run_dir, service):
            if clear:
                now = clear_fault(host, port)
            elif any(value is not None for value in changes.values()):
                now = set_fault(host, port, **changes)
            else:
                now = current_faults(host, port)
            print(f"{instance} ({host}:{port}): {_describe(now)}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FaultError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _describe(overrides: dict[str, str]) -> str:
    if not overrides:
        return "no run-time fault: the stack's `faults` key applies"
    return ", ".join(f"{key}={value}" for key, value in overrides.items())
