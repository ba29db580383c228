"""The rollout order: every service after the upstreams it waits for; a cycle is cut once."""

from __future__ import annotations

from components.settings.rollout import upstreams_first
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from tests.support.shop_graphs import shop_config


def _order(settings) -> list[str]:
    return [s.name for s, _ in upstreams_first(settings)]


def test_upstreams_come_first_and_are_waited_for():
    for config in (stack_config("dev"), shop_config()):
        settings = settings_from_config(config)
        order = _order(settings)
        assert sorted(order) == sorted(s.name for s in settings.services)
        for service, waits in upstreams_first(settings):
            assert waits == service.upstreams
            assert all(order.index(u) < order.index(service.name) for u in waits)


def test_a_call_cycle_is_cut_where_it_closes():
    image = "public.ecr.aws/nginx/nginx-unprivileged:1.30-alpine"
    config = {
        **stack_config("dev"),
        "mesh-visibility:entryService": None,
        "mesh-visibility:services": [
            {"name": "a", "image": image, "port": 8080, "upstreams": ["b"]},
            {"name": "b", "image": image, "port": 8080, "upstreams": ["a"]},
        ],
    }
    config = {k: v for k, v in config.items() if v is not None}
    waits = {s.name: w for s, w in upstreams_first(settings_from_config(config))}
    assert waits == {"b": (), "a": ("b",)}
