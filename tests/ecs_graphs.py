"""A larger ECS service graph than Pulumi.dev.yaml, shared by the ECS tests.

Six services: a fan-out entry service, a chain, a custom image from private ECR with its own
command and environment, a public custom image, and a load generator calling two services.
"""

from __future__ import annotations

from typing import Any

PRIVATE_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/shop/cart:1.4.2"
PUBLIC_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.29-alpine"


def shop_config(**changes: Any) -> dict[str, Any]:
    """The ``shop`` stack's config map (native values); ``changes`` override or drop keys."""
    config: dict[str, Any] = {
        "aws:region": "us-west-2",
        "mesh-visibility:topology": "ecs",
        "mesh-visibility:meshName": "shop",
        "mesh-visibility:dnsNamespace": "shop.local",
        "mesh-visibility:entryService": "frontend",
        "mesh-visibility:statsProfile": "full",
        "mesh-visibility:logRetentionDays": 14,
        "mesh-visibility:services": [
            {"name": "frontend", "port": 3000, "replicas": 3, "cpu": 512, "memory": 1024,
             "healthPath": "/health", "upstreams": ["catalog", "cart", "recommend"]},
            {"name": "catalog", "port": 3000, "replicas": 2, "upstreams": ["inventory"]},
            {"name": "cart", "image": PRIVATE_IMAGE, "port": 8080,
             "command": ["/usr/local/bin/cart", "--listen", ":8080"],
             "env": {"CART_MODE": "fast"}, "cpu": 1024, "memory": 3072},
            {"name": "recommend", "image": PUBLIC_IMAGE, "port": 8080},
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
