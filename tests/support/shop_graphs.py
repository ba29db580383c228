"""Larger service graphs than the stack files, shared by the ECS and EKS tests.

Six services: a fan-out entry service, a chain, a custom image from private ECR with its own
command and environment, a public custom image, a leaf with its own environment, and a load
generator calling two services. The EKS variant runs in another region, namespace and
Kubernetes version. And ``wide``: ten services, one caller of nine upstreams.
"""

from __future__ import annotations

from typing import Any

ECS_PRIVATE_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/shop/cart:1.4.2"
EKS_PRIVATE_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/cart:1.4.2"
PUBLIC_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.30-alpine"


def _services(custom: str, private_image: str, cart: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": "frontend",
            "port": 3000,
            "replicas": 3,
            "cpu": 512,
            "memory": 1024,
            "upstreams": ["catalog", "cart", custom],
        },
        {"name": "catalog", "port": 3000, "replicas": 2, "upstreams": ["inventory"]},
        {
            "name": "cart",
            "image": private_image,
            "port": 8080,
            "command": ["/usr/local/bin/cart", "--listen", ":8080"],
            "env": {"CART_MODE": "fast"},
            "cpu": 1024,
            **cart,
        },
        {"name": custom, "image": PUBLIC_IMAGE, "port": 8080},
        {"name": "inventory", "port": 3100, "env": {"WORDS": "apples,pears"}},
        {
            "name": "load",
            "kind": "load",
            "rate": 5,
            "replicas": 2,
            "upstreams": ["frontend", "catalog"],
        },
    ]


def _changed(config: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``changes`` applied: a value overrides its key, ``None`` drops it."""
    for key, value in changes.items():
        full = key if ":" in key else f"mesh-visibility:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return config


def shop_config(**changes: Any) -> dict[str, Any]:
    """The ``shop`` ECS stack's config map (native values); ``changes`` override or drop keys."""
    services = _services("recommend", ECS_PRIVATE_IMAGE, {"memory": 3072})
    services[0]["healthPath"] = "/health"
    return _changed(
        {
            "aws:region": "us-west-2",
            "mesh-visibility:topology": "ecs",
            "mesh-visibility:meshName": "shop",
            "mesh-visibility:dnsNamespace": "shop.local",
            "mesh-visibility:entryService": "frontend",
            "mesh-visibility:statsProfile": "full",
            "mesh-visibility:logRetentionDays": 14,
            "mesh-visibility:services": services,
        },
        changes,
    )


def wide_config(**changes: Any) -> dict[str, Any]:
    """A ten-service ECS stack at the edge of the CloudWatch metric budget (issue 21, "any
    stack of up to 10 services"): eight leaves, a ``hub`` calling all eight, and a load
    generator calling all nine app services, so a caller has nine upstreams and every leaf
    two callers. ``changes`` as in ``shop_config``."""
    leaves = [f"leaf-{i}" for i in range(1, 9)]
    return _changed(
        {
            "aws:region": "us-west-2",
            "mesh-visibility:topology": "ecs",
            "mesh-visibility:meshName": "wide",
            "mesh-visibility:dnsNamespace": "wide.local",
            "mesh-visibility:entryService": "hub",
            "mesh-visibility:statsProfile": "essential",
            "mesh-visibility:services": [
                *({"name": leaf, "port": 3000} for leaf in leaves),
                {"name": "hub", "port": 3000, "upstreams": leaves},
                {"name": "load", "kind": "load", "rate": 2, "upstreams": ["hub", *leaves]},
            ],
        },
        changes,
    )


def shop_eks_config(**changes: Any) -> dict[str, Any]:
    """The ``shop`` EKS stack's config map (native values); ``changes`` override or drop keys."""
    return _changed(
        {
            "aws:region": "eu-west-1",
            "mesh-visibility:topology": "eks",
            "mesh-visibility:meshName": "shop",
            "mesh-visibility:kubernetesNamespace": "shop-mesh",
            "mesh-visibility:eksVersion": "1.35",
            "mesh-visibility:nodeInstanceType": "m6i.large",
            # Its pods need a little over three m6i.large (5860m CPU with the VPC CNI's two
            # containers counted); the fifth is the one that may be lost.
            "mesh-visibility:nodeCount": 5,
            "mesh-visibility:statsProfile": "full",
            "mesh-visibility:errorRateAlarmPercent": 2,
            "mesh-visibility:latencyAlarmMs": 250,
            "mesh-visibility:services": _services(
                "reviews", EKS_PRIVATE_IMAGE, {"memory": 2048, "healthPath": "/healthz"}
            ),
        },
        changes,
    )
