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
from typing import Any, Required, TypedDict

from components.settings.errors import ConfigError
from components.settings.model import ServiceSpec, Settings
from components.settings.validate import validated_settings


class ServiceArgs(TypedDict, total=False):
    """One service of the mesh: its app, how many replicas and whom it calls. Each field is the
    stack's ``services[]`` key of the same name (README "Configuration")."""

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


class MeshArgs(TypedDict, total=False):
    """What every service of one mesh shares: its name and how its sidecars report. Each field
    is the stack config key of the same name (README "Configuration")."""

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

    def fail(path: str, reason: str) -> ArgumentError:
        return ArgumentError(component, name, path, reason)

    for key in args_type.__required_keys__:
        if key not in args:
            raise fail(key, "required")
    for key in args:
        if key not in args_type.__annotations__:
            raise fail(
                key, f"unknown argument (known: {', '.join(sorted(args_type.__annotations__))})"
            )
    mesh, service = dict(args["mesh"]), dict(args["service"])
    for group, values, known in (("mesh", mesh, MeshArgs), ("service", service, ServiceArgs)):
        for key in values:
            if key not in known.__annotations__:
                raise fail(
                    f"{group}.{key}",
                    f"unknown argument (known: {', '.join(sorted(known.__annotations__))})",
                )
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

    def argument(key: str) -> str:
        """The argument a ``ConfigError`` key (``services[1].name``, ``meshName``) stands for."""
        if key.startswith("services["):
            index, _, rest = key[len("services[") :].partition("]")
            if index != "0":
                return f"service.upstreams[{upstreams.index(stand_ins[int(index) - 1])}]"
            return f"service{'.' + _field(ServiceSpec, rest.lstrip('.')) if rest else ''}"
        if key == "services":  # a rule over the call graph
            return "service.upstreams"
        field = "region" if key == "aws:region" else _field(Settings, key)
        return field if field in fields else f"mesh.{field}"

    try:
        settings = validated_settings(raw, region_required="region" in fields)
        for check in checks:
            check(settings)
    except ConfigError as err:
        raise fail(argument(err.key), err.reason) from None
    return settings


def mesh_args(settings: Settings) -> MeshArgs:
    """The ``MeshArgs`` of a stack's settings (what the stack hands every service)."""
    return MeshArgs(**{key: getattr(settings, key) for key in MeshArgs.__annotations__})


def service_args(service: ServiceSpec) -> ServiceArgs:
    """The ``ServiceArgs`` of one of a stack's services, as its stack file gives it."""
    values = service.model_dump(exclude_none=True)
    return ServiceArgs(
        **{key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
    )


def _settings_fields(args_type: type) -> tuple[str, ...]:
    """The arguments of ``args_type`` that are a ``Settings`` field of the same name."""
    return tuple(key for key in args_type.__annotations__ if key in Settings.model_fields)


def _alias(model: type, field: str) -> str:
    """The config key of a model field (``health_path`` -> ``healthPath``); an unknown name
    stays as it is, for the model to refuse by name."""
    found = model.model_fields.get(field)
    return (found.alias or field) if found is not None else field


def _field(model: type, key: str) -> str:
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
    return value
