"""How Prometheus scrapes the sidecars: one definition for EKS, the local mesh and a standalone
Prometheus."""

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


METRICS_PORT_NAME = "envoy-metrics"


def kubernetes_scrape_job(namespace: str) -> dict:
    """The scrape job for EKS: every Envoy sidecar's metrics port in ``namespace``.

    Pod discovery includes native sidecars (restartable init containers), so the Envoy's
    named container port ``envoy-metrics`` (9902) is found wherever the sidecar runs. The
    target is named after its pod (``instance``), and carries ``namespace``, ``pod`` and the
    pod labels ``app`` and ``mesh`` as ``service`` and ``mesh`` so that ``up`` names the
    sidecar that stopped answering.
    """

    def copy(source: str, target: str) -> dict:
        return {"source_labels": [source], "target_label": target}

    return {
        **scrape_settings(),
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": METRICS_PORT_NAME,
                "action": "keep",
            },
            # Completed pods keep their discovery entry until deleted; they are not down.
            {
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "regex": "Succeeded|Failed",
                "action": "drop",
            },
            copy("__meta_kubernetes_namespace", "namespace"),
            copy("__meta_kubernetes_pod_name", "pod"),
            copy("__meta_kubernetes_pod_name", "instance"),
            copy("__meta_kubernetes_pod_label_app", "service"),
            copy("__meta_kubernetes_pod_label_mesh", "mesh"),
        ],
    }


def prometheus_config(scrape_job: dict, rule_files: list[str], interval: str) -> dict:
    """A prometheus.yml: ``scrape_job`` and ``rule_files``, scraped and evaluated every
    ``interval`` (the local mesh's Prometheus and ``meshvis render``'s standalone one)."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files,
        "scrape_configs": [scrape_job],
    }
