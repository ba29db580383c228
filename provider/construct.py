"""The package's construct path: arguments as the engine sends them, made what the components take.

The engine hands a component's inputs to the provider's ``Construct`` and the SDK wraps every
top-level input that is a secret or depends on another resource in an ``Output`` (pulumi/pulumi
sdk/python/lib/pulumi/provider/server.py ``_select_value`` @1b5949891b3c); at preview such a
value may be unknown. The SDK's mapper then reads a complex argument that is an Output as ``{}``
("Missing required input 'loadBalancer.targetGroupArn'") and an integer one with ``int()``
(``TypeError``) (provider/experimental/component.py ``map_input_properties``).

So before that mapping: an argument whose type is a ``pulumi.Input`` passes as it is; a
complex argument whose every field is one (``load_balancer``) is split into one Output per
field; anything else must be plain (the components build task definitions, bootstraps and
Kubernetes objects from it before any resource exists, and would write a secret into them in
clear) and stops with one line naming it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, NotRequired, Required

from pulumi import Input, Output, ResourceOptions
from pulumi.errors import InputPropertyError
from pulumi.output import Unknown
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.provider import ConstructResult
from pulumi.runtime import rpc


def accepts_output(annotation: Any) -> bool:
    """Whether an argument typed ``annotation`` may be an Output (it is a ``pulumi.Input``)."""
    origin = typing.get_origin(annotation)
    if origin in (Required, NotRequired):
        return accepts_output(typing.get_args(annotation)[0])
    # pulumi.Input[T] is Union[T, Awaitable[T], "Output[T]"]: a forward reference to Output.
    if annotation is Output or origin is Output:
        return True
    if isinstance(annotation, typing.ForwardRef):
        return annotation.__forward_arg__.startswith("Output[")
    return origin is typing.Union and any(accepts_output(a) for a in typing.get_args(annotation))


def _unwrapped(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Required, NotRequired):
        return typing.get_args(annotation)[0]
    return annotation


def _not_plain(value: Any) -> bool:
    """An Output, an unknown or a secret anywhere in ``value``."""
    if isinstance(value, (Output, Unknown)) or value == rpc.UNKNOWN or rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(_not_plain(v) for v in value.values())
    if isinstance(value, list):
        return any(_not_plain(v) for v in value)
    return False


def _field(key: str) -> Callable[[dict | None], Any]:
    """The ``key`` field of a whole object's value (None while the object is None)."""
    return lambda whole: (whole or {}).get(key)


class MeshComponentProvider(ComponentProvider):
    """``ComponentProvider`` with the arguments checked and Outputs placed as described above."""

    def construct(
        self,
        name: str,
        resource_type: str,
        inputs: Mapping[str, Input[Any]],
        options: ResourceOptions | None = None,
    ) -> ConstructResult:
        # The SDK's own check (package and module), then ours for the name: without them a
        # wrong token is a bare KeyError from the lookups below.
        self.validate_resource_type(self._name, resource_type)
        component_name = resource_type.rsplit(":", maxsplit=1)[-1]
        if component_name not in self._components:
            raise ValueError(
                f"unknown component {component_name!r} in resource type {resource_type} "
                f"(known: {', '.join(sorted(self._components))})"
            )
        component = self._components[component_name]
        args_type = inspect.signature(component.__init__).parameters["args"].annotation
        mapping = self._component_defs[component_name].inputs_mapping
        prepared = {
            key: self._argument(f"{component_name} {name}", key, mapping[key], value, args_type)
            if key in mapping
            else value
            for key, value in inputs.items()
        }
        return super().construct(name, resource_type, prepared, options)

    def _argument(self, who: str, path: str, field_path: str, value: Any, owner: type) -> Any:
        """``value`` of the ``owner`` field at ``field_path`` (schema path ``path``), ready for
        the mapper."""
        field = field_path.rsplit(".", maxsplit=1)[-1]
        annotation = owner.__annotations__[field]
        if accepts_output(annotation):
            return value
        kind = _unwrapped(annotation)
        if typing.is_typeddict(kind):
            definition = self._type_defs[kind.__name__]
            fields = kind.__annotations__.values()
            if isinstance(value, Output) and all(accepts_output(t) for t in fields):
                # Every field may be an Output: one per field, each resolved from the whole.
                return {key: value.apply(_field(key)) for key in definition.properties_mapping}
            if isinstance(value, dict):
                names = definition.properties_mapping
                return {
                    key: self._argument(
                        who, f"{path}.{key}", f"{field_path}.{names[key]}", item, kind
                    )
                    if key in names
                    else item
                    for key, item in value.items()
                }
        if _not_plain(value):
            raise InputPropertyError(
                path,
                f"{who}: args.{field_path}: must be a plain value known at preview, not an "
                "Output (a secret, or another resource's output)",
            )
        return value
