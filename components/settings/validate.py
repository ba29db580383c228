"""Stack configuration: parse and validate everything before any resource exists.

The same function serves the Pulumi program (values from ``pulumi.Config``), the command line
(values read from ``Pulumi.<stack>.yaml``) and the tests, so a bad stack fails identically
everywhere with one message that names the key and the reason.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from components.settings.errors import ConfigError
from components.settings.graph import CYCLE, depth_first
from components.settings.model import FaultSpec, ServiceSpec, Settings, SloSpec
from components.settings.naming import PROJECT
from components.settings.ports import MAX_UPSTREAMS, RESERVED_PORTS, RESERVED_PORTS_TEXT
from components.settings.slo import ENCRYPTED_VALUE, check_slos

# Names are prefixed into AWS and Kubernetes names: `<mesh>-<service>-task` (IAM role, 64 with
# Pulumi's 8-character suffix), `<mesh>-alb` / `<mesh>-tg` (ALB and target group, 32 with the
# suffix) and Kubernetes Service names (DNS-1035 labels, 63). These bounds keep all of them valid.
MAX_MESH_NAME = 20
MAX_SERVICE_NAME = 30
DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# One address, as SNS takes it for an email subscription (a local part, @, a dotted domain).
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Every security group name starts with `<meshName>-` and AWS refuses names starting "sg-";
# the load balancer's name too, and AWS refuses those starting "internal-".
AWS_RESERVED_PREFIXES = ("sg-", "internal-")
# An ACM certificate in the stack's partition and region (the load balancer's).
CERTIFICATE_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:acm:(?P<region>[a-z0-9-]+):\d{12}:"
    r"certificate/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
)
# registry/path:tag or @sha256:digest; a tag is required so every deploy is reproducible.
IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*)"
    r"((?P<tag>:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|(?P<digest>@sha256:[a-f0-9]{64}))$"
)


# Values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def settings_from_config(config: Mapping[str, Any], project: str = PROJECT) -> Settings:
    """Build validated ``Settings`` from a stack's config map (``"<namespace>:<key>" -> value``).

    Values may be native (as read from ``Pulumi.<stack>.yaml``) or strings (as Pulumi hands
    them to a program, objects JSON-encoded). Raises ``ConfigError`` on the first problem.
    """
    raw: dict[str, Any] = {}
    prefix = f"{project}:"
    # A stack file's key without a namespace is the project's, as the Pulumi CLI reads it
    # (pulumi/pulumi sdk/go/common/workspace/loaders.go:72-80 @1b5949891b3c).
    config = {key if ":" in key else f"{prefix}{key}": value for key, value in config.items()}
    for key in config:
        _check_namespace(key, project)
    for key, value in config.items():
        if key == "aws:region":
            raw["region"] = value
        elif key.startswith(prefix):
            name = key[len(prefix) :]
            if name not in _KNOWN_KEYS:
                raise ConfigError(name, unknown("key", name, _KNOWN_KEYS))
            raw[name] = _decode(name, value) if name in _STRUCTURED_KEYS else value
    if _is_encrypted(raw.get("alertWebhookUrl")):
        raw["alertWebhookUrl"] = ENCRYPTED_VALUE
    if "services" not in raw:
        raise ConfigError("services", "required: list the services of the mesh")
    return validated_settings(raw)


def validated_settings(raw: Mapping[str, Any], region_required: bool = True) -> Settings:
    """``Settings`` from values keyed by config key (``region`` for ``aws:region``), every rule
    applied; raises ``ConfigError`` naming the key. The mesh-service components validate their
    arguments with it too (``components/settings/service_args.py``); an EKS service's documents
    name no region, so it has none to require."""
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(_key_path(first["loc"]), _reason(first)) from None
    _check_graph(settings, region_required)
    return settings


# Keys whose value is a YAML/JSON structure: the CLI hands them to the program as JSON text.
_STRUCTURED_KEYS = ("services", "slo", "apiAccessCidrs")


def _is_encrypted(value: Any) -> bool:
    """A secret as a stack file holds it (``{secure: <ciphertext>}``): what ``meshvis render``
    reads; the program itself gets the plaintext from the engine."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


_KNOWN_KEYS = frozenset(
    (field.alias or name) for name, field in Settings.model_fields.items() if name != "region"
)
# Namespaces besides the project's that a stack may set: the AWS provider's (every resource
# uses the default provider; it reads `aws:region`, `aws:profile`, `aws:defaultTags`, ...) and
# the CLI's own (`pulumi:tags`, `pulumi:autonaming`, `pulumi:disable-default-providers`: the
# engine hands the program the whole stack config, these included; pulumi/pulumi
# pkg/resource/deploy/source_eval.go:219 @1b5949891b3c). Nothing else is read: the EKS
# topology gives its Kubernetes provider the cluster's kubeconfig explicitly, and pulumi-eks
# declares no config (schema.json "config": {} @7bf0c1b179932), so `kubernetes:`/`eks:` keys
# would be ignored just like a misspelt project namespace.
OTHER_NAMESPACES = ("aws", "pulumi")


def _check_namespace(key: str, project: str) -> None:
    """A key of a namespace nothing reads is a mistake (``mesh-visibilty:meshName`` would
    otherwise deploy with the default mesh name): stop, naming it and the likely intent."""
    namespace = key.split(":", 1)[0]
    known = (project, *OTHER_NAMESPACES)
    if namespace in known:
        return
    guess = difflib.get_close_matches(namespace, known, n=1)
    hint = (
        f"did you mean '{guess[0]}'?"
        if guess
        else f"this program reads only {', '.join(f'{n}:' for n in known)} keys"
    )
    raise ConfigError(key, f"unknown namespace {namespace!r} ({hint})")


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise ConfigError(name, f"not valid JSON/YAML structure ({err.msg})") from None
    except RecursionError:
        raise ConfigError(name, "nests too deeply to read") from None


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "config"


def _reason(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        *within, key = error["loc"]
        return unknown("key", str(key), _field_keys(within))
    if kind == "missing":
        return "required"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list (got {type(error['input']).__name__})"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return (
        f"{message} (got {error['input']!r})"
        if "input" in error and not isinstance(error["input"], (dict, list))
        else message
    )


def _field_keys(within: Sequence[Any]) -> list[str]:
    """The keys the model at ``within`` (a pydantic error location) accepts: a service's, or
    its ``faults`` or an ``slo`` block's."""
    names = {part for part in within if isinstance(part, str)}
    model: type[BaseModel] = (
        FaultSpec
        if "faults" in names
        else SloSpec
        if "slo" in names
        else ServiceSpec
        if "services" in names
        else Settings
    )
    return [field.alias or name for name, field in model.model_fields.items()]


def _check_graph(settings: Settings, region_required: bool = True) -> None:
    """The rules that span fields or services; each names the exact key at fault."""
    if region_required and not settings.region:
        raise ConfigError("aws:region", "required (for example us-west-2)")
    _check_mesh_names(settings)
    if not settings.services:
        raise ConfigError("services", "empty: list at least one service")
    names = [s.name for s in settings.services]
    for i, svc in enumerate(settings.services):
        at = f"services[{i}]"
        _check_name(f"{at}.name", svc.name, MAX_SERVICE_NAME)
        if names.index(svc.name) != i:
            raise ConfigError(f"{at}.name", f"duplicate service name {svc.name!r}")
        _check_kind(at, svc)
        _check_service_fields(at, svc, settings.topology)
        _check_upstreams(settings, at, svc)
    _check_demo_cycle(settings)
    _check_entry_service(settings)
    if settings.certificate_arn is not None:
        _check_certificate(settings)
    check_slos(settings)
    _check_alert_email(settings)


def _check_mesh_names(settings: Settings) -> None:
    """The mesh-wide names: ``meshName``, the DNS and Kubernetes namespaces, the images and
    the log retention."""
    _check_name("meshName", settings.mesh_name, MAX_MESH_NAME)
    for prefix in AWS_RESERVED_PREFIXES:
        if f"{settings.mesh_name}-".startswith(prefix):
            raise ConfigError(
                "meshName",
                f"{settings.mesh_name!r} would start AWS names with "
                f"{prefix!r}, which AWS reserves; choose another name",
            )
    if not DNS_NAME.match(settings.dns_namespace) or len(settings.dns_namespace) > 253:
        raise ConfigError("dnsNamespace", f"not a DNS name: {settings.dns_namespace!r}")
    if settings.previous_dns_namespace:
        _check_previous_namespace(settings)
    _check_name("kubernetesNamespace", settings.kubernetes_namespace, 63)
    for key in ("envoyImage", "cloudwatchAgentImage", "appImage"):
        _check_image(key, getattr(settings, _field_name(key)))
    if settings.log_retention_days not in LOG_RETENTION_DAYS:
        raise ConfigError(
            "logRetentionDays",
            f"{settings.log_retention_days} is not one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}",
        )


def _check_kind(at: str, svc: ServiceSpec) -> None:
    """A load generator has no ingress and calls at least one upstream; an app service has no
    rate and leaves the sidecar's ports free."""
    if svc.is_load:
        for key, value in (
            ("port", svc.port),
            ("healthPath", None if svc.health_path == "/" else svc.health_path),
            ("faults", svc.faults),
            ("healthCheck", None if svc.health_check else False),
        ):
            if value is not None:
                raise ConfigError(f"{at}.{key}", "a load generator has no ingress; remove it")
        if not svc.upstreams:
            raise ConfigError(f"{at}.upstreams", "a load generator needs at least one upstream")
        return
    if svc.rate is not None:
        raise ConfigError(f"{at}.rate", "only a service of kind 'load' has a rate")
    if svc.app_port in RESERVED_PORTS:
        raise ConfigError(
            f"{at}.port",
            f"{svc.app_port} is reserved for the Envoy sidecar ({RESERVED_PORTS_TEXT})",
        )


def _check_service_fields(at: str, svc: ServiceSpec, topology: str) -> None:
    """One service's faults, health check, image and environment."""
    if svc.faults is not None and svc.faults.delay_percent > 0 and svc.faults.delay_ms == 0:
        raise ConfigError(
            f"{at}.faults.delayMs",
            "must be above 0 when delayPercent is above 0 "
            f"(got 0 with delayPercent {svc.faults.delay_percent:g})",
        )
    if not svc.health_check and not svc.is_load:
        if svc.uses_demo_app:
            raise ConfigError(
                f"{at}.healthCheck",
                "the demo app is always checked; false is for an image of your own",
            )
        if topology != "ecs":
            raise ConfigError(
                f"{at}.healthCheck",
                "ecs only: the EKS readiness probe needs no tool in the image; remove it",
            )
    if not svc.health_path.startswith("/"):
        raise ConfigError(f"{at}.healthPath", f"must start with '/': {svc.health_path!r}")
    if svc.image is not None:
        _check_image(f"{at}.image", svc.image)
    for env_name in svc.env:
        if not ENV_NAME.match(env_name):
            raise ConfigError(f"{at}.env", f"not an environment variable name: {env_name!r}")


def _check_upstreams(settings: Settings, at: str, svc: ServiceSpec) -> None:
    """One service's upstreams: few enough, each another known app service, none twice."""
    by_name = {s.name: s for s in settings.services}
    if len(svc.upstreams) > MAX_UPSTREAMS:
        raise ConfigError(f"{at}.upstreams", f"at most {MAX_UPSTREAMS} upstreams")
    for upstream in svc.upstreams:
        if upstream not in by_name:
            raise ConfigError(f"{at}.upstreams", unknown("service", upstream, _names(settings)))
        if upstream == svc.name:
            raise ConfigError(f"{at}.upstreams", f"{svc.name!r} cannot be its own upstream")
        if by_name[upstream].is_load:
            raise ConfigError(
                f"{at}.upstreams", f"{upstream!r} is a load generator and accepts no requests"
            )
    if len(set(svc.upstreams)) != len(svc.upstreams):
        raise ConfigError(f"{at}.upstreams", "lists a service twice")


def _check_demo_cycle(settings: Settings) -> None:
    """No cycle among the demo app services' calls (each would call the next forever)."""
    cycle = _demo_cycle(settings)
    if cycle:
        raise ConfigError(
            "services",
            "the demo app services call each other in a cycle "
            f"({' -> '.join(cycle)}) and would recurse forever",
        )


def _check_entry_service(settings: Settings) -> None:
    """``entryService``: a known app service."""
    if settings.entry_service is None:
        return
    by_name = {s.name: s for s in settings.services}
    if settings.entry_service not in by_name:
        raise ConfigError(
            "entryService", unknown("service", settings.entry_service, _names(settings))
        )
    if by_name[settings.entry_service].is_load:
        raise ConfigError(
            "entryService", f"{settings.entry_service!r} is a load generator and has no ingress"
        )


def _names(settings: Settings) -> list[str]:
    """The service names a message lists as known."""
    return [s.name for s in settings.services]


def unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown <kind> 'name' (did you mean 'x'? known: ...)``: the closest known name first,
    when one is close (a typo), then every known one."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {kind} {name!r} ({hint}known: {', '.join(names)})"


def _check_alert_email(settings: Settings) -> None:
    """``alertEmail``: an address, on the topology that mails alarms (ecs)."""
    if not settings.alert_email:
        return
    if settings.topology != "ecs":
        raise ConfigError(
            "alertEmail", "only the ecs topology mails its alarms (eks: alertWebhookUrl)"
        )
    if not EMAIL.match(settings.alert_email):
        raise ConfigError("alertEmail", f"not an email address: {settings.alert_email!r}")


def _check_previous_namespace(settings: Settings) -> None:
    """Step 1 of a ``dnsNamespace`` change on ecs: the namespace the services are registered
    in now, a DNS name other than the new one."""
    previous = settings.previous_dns_namespace
    if settings.topology != "ecs":
        raise ConfigError(
            "previousDnsNamespace", "only the ecs topology has a Cloud Map namespace: remove it"
        )
    if not DNS_NAME.match(previous) or len(previous) > 253:
        raise ConfigError("previousDnsNamespace", f"not a DNS name: {previous!r}")
    if previous == settings.dns_namespace:
        raise ConfigError(
            "previousDnsNamespace",
            f"equals dnsNamespace ({previous!r}): set "
            "it to the namespace the stack is deployed with, or remove it",
        )


def _check_certificate(settings: Settings) -> None:
    """An ACM certificate for the ECS load balancer's HTTPS listener, in the stack's region."""
    arn = str(settings.certificate_arn)
    if settings.topology != "ecs" or settings.entry_service is None:
        raise ConfigError(
            "certificateArn",
            "only the ecs topology's load balancer uses a "
            "certificate: set topology ecs and an entryService, or remove it",
        )
    match = CERTIFICATE_ARN.match(arn)
    if not match:
        raise ConfigError(
            "certificateArn",
            f"not an ACM certificate ARN "
            f"(arn:aws:acm:<region>:<account>:certificate/<id>): {arn!r}",
        )
    if match.group("region") != settings.region:
        raise ConfigError(
            "certificateArn",
            f"the certificate is in {match.group('region')}, "
            f"the load balancer in {settings.region}; ACM certificates are "
            "regional: request or import it in the stack's region",
        )


def _field_name(alias: str) -> str:
    return next(n for n, f in Settings.model_fields.items() if (f.alias or n) == alias)


def _check_name(key: str, value: str, limit: int) -> None:
    if not DNS_LABEL.match(value):
        raise ConfigError(
            key,
            f"{value!r} is not a DNS label (lowercase letters, digits and '-', "
            "starting with a letter)",
        )
    if len(value) > limit:
        raise ConfigError(
            key,
            f"{value!r} is {len(value)} characters; at most {limit} keep "
            "the AWS and Kubernetes names built from it valid",
        )


def _check_image(key: str, value: str) -> None:
    match = IMAGE_REF.match(value)
    if not match:
        raise ConfigError(key, f"not an image reference with a tag or digest: {value!r}")
    if match.group("tag") == ":latest":
        raise ConfigError(key, f"pin a version instead of 'latest': {value!r}")


def _demo_cycle(settings: Settings) -> list[str]:
    """A call cycle through demo-app services only, as a list of names, or [] if none."""
    return call_cycle(
        {
            s.name: [u for u in s.upstreams if settings.service(u).uses_demo_app]
            for s in settings.services
            if s.uses_demo_app
        }
    )


def call_cycle(calls: Mapping[str, Sequence[str]]) -> list[str]:
    """A cycle in the call graph ``calls`` (service -> services it calls) as a list of names
    that starts and ends with the same service, or [] if none."""
    return next((path for event, path in depth_first(calls) if event == CYCLE), [])
