"""The real consumers the tests run as processes, called one way everywhere."""

from __future__ import annotations

import subprocess
from pathlib import Path


def envoy_validate(envoy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``envoy --mode validate`` with a sidecar's arguments (``--config-yaml <json>`` or its
    whole command line): Envoy loads the configuration as it would to serve, then exits."""
    return subprocess.run(
        [str(envoy), "--mode", "validate", *args], capture_output=True, text=True, timeout=60
    )


def run_promtool(
    promtool: str, *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``promtool <args>`` (``check rules``, ``check config``, ``test rules``) in ``cwd``."""
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
