"""The EKS documents ``meshvis render`` writes, in-process: a larger graph's objects round-trip,
the YAML is readable, a reserved namespace is refused first (``meshvis render --stack dev-eks``
as a process, every document equal to what the Pulumi program deploys:
tests/local/test_render_command.py)."""

from __future__ import annotations

import pytest
import yaml

from components.settings.errors import ConfigError
from components.settings.validate import settings_from_config
from components.sidecar.demo_app import demo_app_source
from components.stack import checked_settings
from meshvis.render.eks import (
    eks_documents,
    kubernetes_objects,
    to_yaml,
)
from tests.support.shop_graphs import shop_eks_config


def test_documents_of_a_larger_graph_round_trip():
    settings = settings_from_config(shop_eks_config())
    documents = eks_documents(settings)
    objects = kubernetes_objects(settings, demo_app_source())
    parsed = [
        yaml.safe_load(text) for path, text in sorted(documents.items()) if path.startswith("k8s/")
    ]
    assert parsed == objects
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert sorted(names) == sorted(s.name for s in settings.services)


def test_yaml_is_readable():
    """Multi-line strings become blocks and repeated label maps are written out in full."""
    text = to_yaml({"a": {"x": "1"}, "b": "line 1\nline 2\n", "c": [{"x": "1"}]})
    assert "|" in text and "&id" not in text and "*id" not in text
    shared = {"app": "nginx"}
    text = to_yaml({"selector": shared, "labels": shared})
    assert "&" not in text and yaml.safe_load(text) == {"selector": shared, "labels": shared}


def test_a_reserved_namespace_is_refused_before_rendering():
    with pytest.raises(ConfigError, match="kubernetesNamespace: 'default' is reserved"):
        checked_settings(shop_eks_config(kubernetesNamespace="default"))
