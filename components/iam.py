"""IAM policy documents shared by both topologies (pure)."""

from __future__ import annotations


def policy(*statements: dict) -> dict:
    """An IAM policy document of ``statements``."""
    return {"Version": "2012-10-17", "Statement": list(statements)}
