"""The EKS stacks whose Prometheus documents go to promtool: the demo and the larger shop graph."""

from __future__ import annotations

import pytest

from components.settings.model import Settings
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from tests.support.shop_graphs import shop_eks_config

SETTINGS = {"dev-eks": stack_settings("dev-eks"), "shop": settings_from_config(shop_eks_config())}


@pytest.fixture(params=sorted(SETTINGS))
def settings(request: pytest.FixtureRequest) -> Settings:
    return SETTINGS[request.param]
