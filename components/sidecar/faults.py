"""Fault injection on a sidecar's ingress (a service's ``faults`` key): pure documents.

Envoy's own HTTP fault filter answers (abort) or holds (delay) a share of the requests the
service receives, before its router, so the service's own ingress stats, access log and traces
show the failure exactly as they would show a failing app. Both an abort and a delay section
are always there (at the configured percents, possibly 0) so that either can be raised or
cleared while the sidecar runs, through its loopback admin interface's ``/runtime_modify`` and
the filter's default runtime keys (docs/faults.md).

How Envoy reads those keys (envoyproxy/envoy
source/extensions/filters/http/fault/fault_filter.cc @e05a2af4b8e1, and
source/common/runtime/runtime_impl.cc ``SnapshotImpl::featureEnabled`` @c404da6c0aa5; both
checked against the Envoy the tests run, tests/local/test_fault_filter.py):
- a percent key holding an integer is a percent over 100 (above 100: always); holding a
  ``FractionalPercent`` in YAML (``{numerator: 125, denominator: TEN_THOUSAND}``) it is that
  fraction; a decimal such as ``12.5`` is truncated to 12, so ``runtime_overrides`` writes a
  non-whole percent as a ``FractionalPercent``;
- an empty value removes the admin override: the bootstrap's value applies again;
- a request carrying ``x-envoy-downstream-service-cluster`` is looked up under
  ``fault.http.<cluster>.*`` instead; no sidecar of the mesh sets that header.
``/runtime_modify`` needs an admin layer in the bootstrap's ``layered_runtime``: without one
Envoy answers 503 "No admin layer specified" (``LoaderImpl::mergeValues``, same file).
"""

from __future__ import annotations

import urllib.parse

from pydantic import ValidationError

from components.settings.model import FaultSpec

FAULT_FILTER = "envoy.filters.http.fault"
HTTP_FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"

# The filter's default runtime keys (fault_filter.h ``RuntimeKeys``, same commit).
ABORT_PERCENT_KEY = "fault.http.abort.abort_percent"
ABORT_STATUS_KEY = "fault.http.abort.http_status"
DELAY_PERCENT_KEY = "fault.http.delay.fixed_delay_percent"
DELAY_MS_KEY = "fault.http.delay.fixed_duration_ms"
RUNTIME_KEYS = (ABORT_PERCENT_KEY, ABORT_STATUS_KEY, DELAY_PERCENT_KEY, DELAY_MS_KEY)

# FaultDelay.fixed_delay must be above 0 (api/envoy/extensions/filters/common/fault/v3/
# fault.proto @2cf4fc227fab). With ``delayMs: 0`` the section still needs one, so it carries
# this placeholder and the runtime's base layer sets the duration key to 0: Envoy delays only
# for a duration above 0, so raising just the delay percent injects nothing until a duration
# is set too.
PLACEHOLDER_DELAY = "0.001s"
ADMIN_LAYER = "admin"
BASE_LAYER = "faults"


def fault_filter(spec: FaultSpec) -> dict:
    """The ingress HTTP filter (placed before the router) that injects ``spec``'s faults."""
    delay = f"{spec.delay_ms / 1000:g}s" if spec.delay_ms else PLACEHOLDER_DELAY
    return {
        "name": FAULT_FILTER,
        "typed_config": {
            "@type": HTTP_FAULT,
            "abort": {
                "http_status": spec.abort_status,
                "percentage": fractional_percent(spec.abort_percent),
            },
            "delay": {
                "fixed_delay": delay,
                "percentage": fractional_percent(spec.delay_percent),
            },
        },
    }


def fault_exemption() -> dict:
    """A route's ``typed_per_filter_config`` that exempts it from the fault filter: an empty
    ``HTTPFault``, neither abort nor delay. The route's config replaces the filter's whole
    (``FaultFilter::decodeHeaders``: "Route-level configuration overrides filter-level
    configuration ... runtime is supported only when faults are configured at the filter
    level", envoyproxy/envoy source/extensions/filters/http/fault/fault_filter.cc), and a
    missing section injects nothing whatever the runtime keys say (``isAbortEnabled`` and
    ``isDelayEnabled`` return false without one). Checked against the Envoy the tests run
    (tests/local/test_fault_filter.py)."""
    return {FAULT_FILTER: {"@type": HTTP_FAULT}}


def fault_runtime(spec: FaultSpec) -> dict:
    """The bootstrap's ``layered_runtime`` of a sidecar with faults: the admin layer
    ``/runtime_modify`` writes to, under a base layer when ``delayMs`` is 0 (see
    ``PLACEHOLDER_DELAY``)."""
    layers = [{"name": ADMIN_LAYER, "admin_layer": {}}]
    if not spec.delay_ms:
        layers.insert(0, {"name": BASE_LAYER, "static_layer": {DELAY_MS_KEY: 0}})
    return {"layers": layers}


def fractional_percent(percent: float) -> dict:
    """``percent`` (0-100) as Envoy's FractionalPercent: over 100 when whole, else over a
    million (exact to four decimals)."""
    if float(percent).is_integer():
        return {"numerator": int(percent), "denominator": "HUNDRED"}
    return {"numerator": round(percent * 10_000), "denominator": "MILLION"}


def runtime_overrides(
    abort_percent: float | None = None,
    abort_status: int | None = None,
    delay_percent: float | None = None,
    delay_ms: int | None = None,
) -> dict[str, str]:
    """The ``/runtime_modify`` parameters that set the given faults on a running sidecar (the
    ones left None are not touched). Raises ``ValueError`` on a value the ``faults`` key
    would refuse."""
    given = {
        name: value
        for name, value in (
            ("abort_percent", abort_percent),
            ("abort_status", abort_status),
            ("delay_percent", delay_percent),
            ("delay_ms", delay_ms),
        )
        if value is not None
    }
    _check(given)
    keys = {
        "abort_percent": ABORT_PERCENT_KEY,
        "abort_status": ABORT_STATUS_KEY,
        "delay_percent": DELAY_PERCENT_KEY,
        "delay_ms": DELAY_MS_KEY,
    }
    return {
        keys[name]: _percent_value(value) if name.endswith("_percent") else str(int(value))
        for name, value in given.items()
    }


def runtime_modify_path(overrides: dict[str, str]) -> str:
    """The admin request path that applies ``overrides`` (POST it to the sidecar's admin
    port): spaces as %20, which Envoy's query parser reads (a + it does not)."""
    return f"/runtime_modify?{urllib.parse.urlencode(overrides, quote_via=urllib.parse.quote)}"


def cleared_overrides() -> dict[str, str]:
    """The ``/runtime_modify`` parameters that drop every fault override: the sidecar injects
    its bootstrap's faults (the stack's ``faults`` key) again."""
    return dict.fromkeys(RUNTIME_KEYS, "")


def _percent_value(percent: float) -> str:
    fraction = fractional_percent(percent)
    if fraction["denominator"] == "HUNDRED":
        return str(fraction["numerator"])
    return f"{{numerator: {fraction['numerator']}, denominator: {fraction['denominator']}}}"


def _check(given: dict) -> None:
    """The ``faults`` key's own bounds (FaultSpec's), one line naming the key at fault."""
    try:
        FaultSpec.model_validate(given)
    except ValidationError as err:
        first = err.errors()[0]
        key = FaultSpec.model_fields[str(first["loc"][0])].alias
        raise ValueError(f"{key}: {first['msg']} (got {first['input']!r})") from None
