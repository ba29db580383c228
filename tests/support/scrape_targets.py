"""Static Prometheus targets labelled the way Kubernetes pod discovery labels them, so the
EKS scrape job's relabelling can run on a Prometheus without a cluster."""

from __future__ import annotations


def pod_targets(namespace: str, ports: dict[str, int]) -> list[dict]:
    """Static targets labelled as Kubernetes pod discovery labels a pod's container ports:
    two sidecars' metrics ports and the other ports of the same pods, one pod completed."""

    def target(pod: str, app: str, port_name: str, port: int, phase: str = "Running") -> dict:
        return {
            "targets": [f"127.0.0.1:{port}"],
            "labels": {
                "__meta_kubernetes_namespace": namespace,
                "__meta_kubernetes_pod_name": pod,
                "__meta_kubernetes_pod_label_app": app,
                "__meta_kubernetes_pod_label_mesh": "shop",
                "__meta_kubernetes_pod_container_name": "envoy" if "envoy" in port_name else "app",
                "__meta_kubernetes_pod_container_init": "true" if "envoy" in port_name else "false",
                "__meta_kubernetes_pod_container_port_name": port_name,
                "__meta_kubernetes_pod_phase": phase,
            },
        }

    return [
        target("frontend-5c8d-x1", "frontend", "envoy-metrics", ports["frontend"]),
        target("frontend-5c8d-x1", "frontend", "envoy-ingress", ports["ingress"]),
        target("frontend-5c8d-x1", "frontend", "app", ports["app"]),
        target("load-66b4-z9", "load", "envoy-metrics", ports["load"]),
        target("load-66b4-old", "load", "envoy-metrics", ports["done"], phase="Succeeded"),
    ]


def as_static(job: dict, static_configs: list[dict]) -> dict:
    """``job`` with its Kubernetes discovery replaced by ``static_configs``."""
    local = {k: v for k, v in job.items() if k != "kubernetes_sd_configs"}
    return {**local, "static_configs": static_configs}
