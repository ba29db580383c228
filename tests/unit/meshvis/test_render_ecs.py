"""What ``meshvis render`` writes for a stack, in-process: the ECS documents of a graph without
an entry service, and the EKS documents for an EKS stack (the command itself, run as a process:
tests/local/test_render_command.py)."""

from __future__ import annotations

import json

from components.settings.validate import settings_from_config
from components.stack import stack_settings
from dashboards.cloudwatch.dashboard import dashboard_body
from meshvis.render import stack_documents
from tests.support.shop_graphs import shop_config


def test_render_without_entry_service_has_no_load_balancer_in_the_dashboard():
    settings = settings_from_config(shop_config(entryService=None))
    documents = stack_documents(settings)
    assert json.loads(documents["cloudwatch-dashboard.json"]) == dashboard_body(
        settings, None, None
    )
    assert len([p for p in documents if p.startswith("envoy/")]) == 6


def test_render_eks_stack_writes_the_eks_documents():
    from meshvis.render.eks import eks_documents

    settings = stack_settings("dev-eks")
    assert stack_documents(settings) == eks_documents(settings)
