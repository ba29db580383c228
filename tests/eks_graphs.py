"""A larger EKS service graph than Pulumi.dev-eks.yaml, shared by the EKS tests.

Six services on a non-default namespace and Kubernetes version: a fan-out entry service, a
chain, a private image with its own command and environment, a public image, a leaf with its
own environment, and a load generator calling two services.
"""

from __future__ import annotations

from typing import Any

PRIVATE_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/cart:1.4.2"
PUBLIC_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.29-alpine"


def shop_eks_config(**changes: Any) -> dict[str, Any]:
    """The ``shop`` EKS stack's config map (native values); ``changes`` override or drop keys."""
    config: dict[str, Any] = {
        "aws:region": "eu-west-1",
        "mesh-visibility:topology": "eks",
        "mesh-visibility:meshName": "shop",
        "mesh-visibility:kubernetesNamespace": "shop-mesh",
        "mesh-visibility:eksVersion": "1.33",
        "mesh-visibility:nodeInstanceType": "m6i.large",
        "mesh-visibility:nodeCount": 3,
        "mesh-visibility:statsProfile": "full",
        "mesh-visibility:errorRateAlarmPercent": 2,
        "mesh-visibility:latencyAlarmMs": 250,
        "mesh-visibility:services": [
            {"name": "frontend", "port": 3000, "replicas": 3, "cpu": 512, "memory": 1024,
             "upstreams": ["catalog", "cart", "reviews"]},
            {"name": "catalog", "port": 3000, "replicas": 2, "upstreams": ["inventory"]},
            {"name": "cart", "image": PRIVATE_IMAGE, "port": 8080, "healthPath": "/healthz",
             "command": ["/usr/local/bin/cart", "--listen", ":8080"],
             "env": {"CART_MODE": "fast"}, "cpu": 1024, "memory": 2048},
            {"name": "reviews", "image": PUBLIC_IMAGE, "port": 8080},
            {"name": "inventory", "port": 3100, "env": {"WORDS": "apples,pears"}},
            {"name": "load", "kind": "load", "rate": 5, "replicas": 2,
             "upstreams": ["frontend", "catalog"]},
        ],
    }
    for key, value in changes.items():
        full = key if ":" in key else f"mesh-visibility:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return config
