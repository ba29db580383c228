"""The mesh-service components' own arguments as plain data, and the ``Settings`` they amount to.

``EcsMeshService`` and ``EksMeshService`` take arguments typed for one service (``ServiceArgs``),
the settings every service of a mesh shares (``MeshArgs``) and where the service runs. They
build the ``Settings`` the pure document functions take from them, through the stack's own
validation (``validated_settings``), so a component used on its own stops on the same rules as
a stack, with one message naming the argument: ``EcsMeshService greeter: args.service.port: ...``.

No ``from __future__ import annotations`` here: Pulumi's schema inference
(``pulumi.provider.experimental.analyzer``) reads these annotations as objects, not strings.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Required, TypedDict, cast

from pydantic import BaseModel

from components.settings.errors import ConfigError
from components.settings.model import FaultSpec, ServiceSpec, Settings
from components.settings.validate import validated_settings


class FaultArgs(TypedDict, total=False):
    """Faults the service's sidecar injects into the requests it receives, for game days on a
    staging stack (docs/faults.md); each can be changed at run time through the sidecar's
    loopback admin interface. Each field is the stack's `faults` key of the same name."""

    abort_percent: float
    """Percent of requests answered `abort_status` without reaching the app (0-100, default 0)."""
    abort_status: int
    """The status of an aborted request (400-599, default 503)."""
    delay_percent: float
    """Percent of requests held `delay_ms` before they reach the app (0-100, default 0)."""
    delay_ms: int
    """How long a delayed request is held, in ms (default 0; above 0 when `delay_percent` is)."""


class ServiceArgs(TypedDict, total=False):
    """One service of the mesh: its app, how many replicas and whom it calls. Each field is the
    stack's ``services[]`` key of the same name (docs/configuration.md)."""

    name: Required[str]
    """The service's name: its DNS name in the namespace, and part of every name derived from it.
    A DNS label (lowercase letters, digits, '-') of at most 30 characters."""
    kind: str
    """`app` (default): accepts requests on Envoy's ingress port 15000. `load`: a load generator
    that only calls its upstreams, at `rate` requests per second."""
    port: int
    """The port the app listens on, on loopback behind its Envoy (default 3000; not for `load`)."""
    replicas: int
    """Tasks or pods (1-100, default 1)."""
    upstreams: list[str]
    """Names of the mesh services it calls, each through its own Envoy egress listener on
    127.0.0.1:9001, 9002, ... in this order; each a service of the same namespace."""
    rate: float
    """Requests per second of a `load` service (default 1)."""
    image: str
    """The app's image, with a tag or digest. Default: the built-in demo app."""
    command: list[str]
    """The app's command (default: the image's)."""
    env: dict[str, str]
    """The app's environment."""
    cpu: int
    """The app's CPU reservation in units of 1/1024 vCPU (default 256)."""
    memory: int
    """The app's memory reservation in MiB (default 512)."""
    health_path: str
    """The app's health check path (default `/`; not for `load`)."""
    health_check: bool
    """ECS: `false` drops the app container's health check, for an image of your own without
    `/bin/sh` plus curl or wget (default true; not for `load` or the demo app)."""
    faults: FaultArgs
    """Faults injected at the sidecar's ingress, for game days only (default: none, and no
    fault filter at all; not for `load`)."""


class MeshArgs(TypedDict, total=False):
    """What every service of one mesh shares: its name and how its sidecars report. Each field
    is the stack config key of the same name (docs/configuration.md)."""

    mesh_name: Required[str]
    """Prefix of every name and the `mesh` tag on every stat; a DNS label of at most 20
    characters."""
    stats_profile: str
    """`essential` (default: only the stats the dashboards and alarms read) or `full`."""
    latency_alarm_ms: int
    """The mesh's latency alarm threshold in ms (default 1000); the access log always keeps
    requests this slow unless `access_log_slow_ms` is set."""
    access_log: str
    """Which requests the sidecars log: `sampled` (default: failed, slow and a sample of the
    rest), `errors`, `all` or `off`."""
    access_log_sample_percent: int
    """Share of the other requests `sampled` logs, 0-100 (default 1)."""
    access_log_slow_ms: int
    """Requests at least this slow are always logged (default 0: `latency_alarm_ms`)."""
    tracing: bool
    """Envoy's OpenTelemetry tracer on every sidecar (default true)."""
    trace_sample_rate: float
    """Percent of entry requests traced, 0-100 (default 5)."""
    trace_limit_per_minute: int
    """A ceiling instead of the share, on every sidecar: about this many traces a minute start
    at each service at steady traffic with few request paths (ids in paths: about 160 a minute
    per replica, docs/costs.md) (default 12; 0: no ceiling, `trace_sample_rate` applies)."""
    envoy_image: str
    """The Envoy sidecar's image (default: the pinned Envoy release)."""
    app_image: str
    """The image the built-in demo app runs in (default: the pinned Python image)."""


class ArgumentError(ValueError):
    """A mesh-service component's argument is wrong; the message names the component, the
    resource and the argument: ``EcsMeshService greeter: args.service.port: <reason>``."""

    def __init__(self, component: str, name: str, path: str, reason: str) -> None:
        super().__init__(f"{component} {name}: args.{path}: {reason}")
        self.path = path
        self.reason = reason


def component_settings(
    component: str,
    name: str,
    args: Mapping[str, Any],
    args_type: type,
    topology: str,
    checks: Sequence[Callable[[Settings], None]] = (),
) -> Settings:
    """The ``Settings`` of one service from its component's ``args`` (an ``args_type`` dict),
    validated by the stack's rules and then by the topology's ``checks`` (the stack's
    ``check_topology`` rules that concern one service); raises ``ArgumentError`` naming the
    argument at fault.

    ``settings.services`` holds the service first, then one stand-in per upstream (a name, so
    the graph rules apply; a component knows its upstreams by name only). The arguments of
    ``args_type`` named like a ``Settings`` field (``region``, ``dns_namespace``, ...) are
    that field.
    """
    fields = _settings_fields(args_type)
    problem = _argument_names_problem(args, args_type)
    if problem is not None:
        raise ArgumentError(component, name, *problem)
    mesh, service = dict(args["mesh"]), dict(args["service"])
    upstreams = list(service.get("upstreams", ()))
    stand_ins = [u for u in dict.fromkeys(upstreams) if u != service.get("name")]
    raw: dict[str, Any] = {
        "topology": topology,
        **{_alias(Settings, key): _integral(value) for key, value in mesh.items()},
        **{_alias(Settings, key): _integral(args[key]) for key in fields if key in args},
        "services": [
            {_alias(ServiceSpec, key): _integral(value) for key, value in service.items()},
            *({"name": u} for u in stand_ins),
        ],
    }

    try:
        settings = validated_settings(raw, region_required="region" in fields)
        for check in checks:
            check(settings)
    except ConfigError as err:
        path = _argument(err.key, fields, [upstreams.index(u) for u in stand_ins])
        raise ArgumentError(component, name, path, err.reason) from None
    return settings


def _argument_names_problem(args: Mapping[str, Any], args_type: type) -> tuple[str, str] | None:
    """The first argument missing from ``args`` or unknown in it (or in its ``mesh`` and
    ``service`` groups), with why; None when every name is right."""
    # A TypedDict class: typing has no type for "some TypedDict class" that mypy accepts.
    for key in args_type.__required_keys__:  # type: ignore[attr-defined]
        if key not in args:
            return key, "required"
    return (
        _unknown_argument("", args, args_type)
        or _unknown_argument("mesh.", args["mesh"], MeshArgs)
        or _unknown_argument("service.", args["service"], ServiceArgs)
    )


def _unknown_argument(
    prefix: str, values: Mapping[str, Any], known: type
) -> tuple[str, str] | None:
    """The first key of ``values`` that ``known`` (a TypedDict class) does not declare."""
    for key in values:
        if key not in known.__annotations__:
            names = ", ".join(sorted(known.__annotations__))
            return f"{prefix}{key}", f"unknown argument (known: {names})"
    return None


def _argument(key: str, fields: tuple[str, ...], stand_in_positions: list[int]) -> str:
    """The argument a ``ConfigError`` key (``services[1].name``, ``meshName``) stands for;
    ``stand_in_positions``: where each upstream stand-in (``services[1:]``) is in
    ``service.upstreams``."""
    if key.startswith("services["):
        index, _, rest = key[len("services[") :].partition("]")
        if index != "0":
            return f"service.upstreams[{stand_in_positions[int(index) - 1]}]"
        if not rest:
            return "service"
        # One level of nesting: a key of `faults`.
        parts = rest.lstrip(".").split(".")[:2]
        models = (ServiceSpec, FaultSpec)[: len(parts)]
        names = [_field(model, part) for model, part in zip(models, parts, strict=True)]
        return f"service.{'.'.join(names)}"
    if key == "services":  # a rule over the call graph
        return "service.upstreams"
    field = "region" if key == "aws:region" else _field(Settings, key)
    return field if field in fields else f"mesh.{field}"


def mesh_args(settings: Settings) -> MeshArgs:
    """The ``MeshArgs`` of a stack's settings (what the stack hands every service)."""
    return cast(MeshArgs, {key: getattr(settings, key) for key in MeshArgs.__annotations__})


def service_args(service: ServiceSpec) -> ServiceArgs:
    """The ``ServiceArgs`` of one of a stack's services, as its stack file gives it (but its
    ``slo``: SLOs are documents of the whole topology, not of one service's component)."""
    values = service.model_dump(exclude_none=True, exclude={"slo"})
    return cast(
        ServiceArgs,
        {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()},
    )


def _settings_fields(args_type: type) -> tuple[str, ...]:
    """The arguments of ``args_type`` that are a ``Settings`` field of the same name."""
    return tuple(key for key in args_type.__annotations__ if key in Settings.model_fields)


def _alias(model: type[BaseModel], field: str) -> str:
    """The config key of a model field (``health_path`` -> ``healthPath``); an unknown name
    stays as it is, for the model to refuse by name."""
    found = model.model_fields.get(field)
    return (found.alias or field) if found is not None else field


def _field(model: type[BaseModel], key: str) -> str:
    """The model field of a config key (``healthPath`` -> ``health_path``)."""
    return next((name for name, f in model.model_fields.items() if (f.alias or name) == key), key)


def _integral(value: Any) -> Any:
    """``value`` with whole floats as ints. A component hosted in the plugin gets every number
    as a float (protobuf's Struct has doubles only), and pulumi 3.272.0's
    ``ComponentProvider.map_input_properties`` converts integer properties, then stores the
    float again (pulumi/provider/experimental/component.py); the strict integer fields
    (``port``, ``replicas``) would refuse 3000.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):  # `faults`
        return {key: _integral(item) for key, item in value.items()}
    return value
