"""The one outputs dictionary of a component: every output its class declares.

A component declares its outputs once, as class-level annotations with docstrings (what the
component package's schema is inferred from, provider/); ``declared_outputs`` reads them back,
so ``register_outputs`` and a topology's stack outputs are that same dictionary and no second
list of keys can drift from the declarations (tests/program/test_component_contract.py).
"""

from __future__ import annotations

from typing import Any


def declared_outputs(component: object) -> dict[str, Any]:
    """camelCase output name -> value, for every public attribute the component's class and
    its bases annotate, in declaration order; an output that is None (absent on this
    component, e.g. the address of a ``load`` service) is left out."""
    names: dict[str, None] = {}
    for cls in reversed(type(component).__mro__):
        names |= dict.fromkeys(n for n in vars(cls).get("__annotations__", {}) if n[0] != "_")
    values = {camel_case(name): getattr(component, name) for name in names}
    return {key: value for key, value in values.items() if value is not None}


def camel_case(name: str) -> str:
    """``snake_case`` -> ``camelCase`` (a Pulumi output's name)."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)
