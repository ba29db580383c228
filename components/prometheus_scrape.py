"""How Prometheus scrapes the sidecars: one definition for EKS and for the local mesh."""

from __future__ import annotations

JOB_NAME = "envoy-sidecars"
METRICS_PATH = "/stats/prometheus"
SCRAPE_INTERVAL = "5s"
SCRAPE_TIMEOUT = "4s"


def scrape_settings() -> dict:
    """Scrape settings common to every deployment of the mesh.

    ``honor_labels`` keeps the ``service`` and ``mesh`` labels the sidecar itself attaches
    (its fixed stats tags) instead of letting target labels overwrite them.
    """
    return {
        "job_name": JOB_NAME,
        "metrics_path": METRICS_PATH,
        "scrape_interval": SCRAPE_INTERVAL,
        "scrape_timeout": SCRAPE_TIMEOUT,
        "honor_labels": True,
    }


def static_scrape_job(targets: list[tuple[str, dict[str, str]]]) -> dict:
    """The scrape job for known ``host:port`` targets, each with its own target labels."""
    return {
        **scrape_settings(),
        "static_configs": [{"targets": [address], "labels": labels} for address, labels in targets],
    }

