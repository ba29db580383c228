"""Saved CloudWatch Logs Insights queries over the sidecars' JSON access logs.

Each Envoy writes one JSON object per request to stdout (components/sidecar/bootstrap.py
``ACCESS_LOG_FORMAT`` plus ``service`` and ``listener``); awslogs ships it to the service's
``envoy`` log group, where Logs Insights discovers the JSON keys as fields. The field names
used here are exactly those keys (tests check them against a real Envoy's access log).

The sidecars do not log every request (``accessLog``, components/sidecar/bootstrap.py): by
default every failed and every slow request, and a sample of the healthy ones. So each query
asks only what the kept lines answer completely, and ends with a comment (``#``, which Logs
Insights ignores) saying what is sampled.
"""

from __future__ import annotations

import re

from components.settings.model import Settings
from components.settings.naming import PROJECT, log_group_name
from components.sidecar.names import INGRESS_PREFIX

ENVOY_CONTAINER = "envoy"
RESULT_LIMIT = 50
# Words of the query language itself, as opposed to log fields.
_KEYWORDS = frozenset(
    {
        "fields",
        "filter",
        "stats",
        "sort",
        "limit",
        "display",
        "by",
        "as",
        "and",
        "or",
        "not",
        "like",
        "in",
        "asc",
        "desc",
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "pct",
        "bin",
        "ispresent",
    }
)
_WORD = re.compile(r'"[^"]*"|/[^/]*/|(?<![\w@])([A-Za-z_][A-Za-z0-9_]*)')

# name, query. Envoy's own log lines share the log group, so every query first keeps only
# access-log events (those with a response_code field). Egress listeners log failed calls
# only, so the per-upstream query counts failed calls (under every policy alike).
_QUERIES = (
    (
        "503s by response flag",
        "\n| ".join(
            (
                "filter ispresent(response_code) and response_code = 503",
                "stats count(*) as responses by service, listener, response_flags, "
                "upstream_cluster",
                "sort responses desc",
            )
        ),
    ),
    (
        "5xx responses",
        "\n| ".join(
            (
                "fields @timestamp, service, listener, method, path, response_code, "
                "response_flags, upstream_cluster, upstream_host, duration_ms, request_id",
                "filter ispresent(response_code) and response_code >= 500",
                "sort @timestamp desc",
                f"limit {RESULT_LIMIT}",
            )
        ),
    ),
    (
        "Slowest requests",
        "\n| ".join(
            (
                "fields @timestamp, service, listener, method, path, response_code, duration_ms, "
                "upstream_service_time_ms, upstream_host, request_id",
                "filter ispresent(duration_ms)",
                "sort duration_ms desc",
                f"limit {RESULT_LIMIT}",
            )
        ),
    ),
    (
        "Failed upstream calls by code and flag",
        "\n| ".join(
            (
                f'filter ispresent(response_code) and listener != "{INGRESS_PREFIX}" '
                'and (response_code >= 500 or response_flags != "-")',
                "stats count(*) as calls by service, upstream_cluster, response_code, "
                "response_flags",
                "sort calls desc",
            )
        ),
    ),
)
# Logs Insights comments start with `#` and run to the end of the line.
_COMMENT = re.compile(r"#[^\n]*")


def envoy_log_groups(settings: Settings) -> list[str]:
    """The ``envoy`` log group of every service (load generators included)."""
    return [
        log_group_name(settings.mesh_name, svc.name, ENVOY_CONTAINER) for svc in settings.services
    ]


def sampling_note(settings: Settings) -> str:
    """What the access logs hold under ``accessLog``, in one sentence."""
    kept = (
        f"every 5xx, every flagged response (UF, URX, UH...) and every request of "
        f"{settings.slow_request_ms} ms or more is logged"
    )
    if settings.access_log == "sampled":
        return (
            f"{kept}; other healthy requests are a {settings.access_log_sample_percent}% "
            "sample (accessLog: sampled)"
        )
    if settings.access_log == "errors":
        return f"{kept}; other healthy requests are not logged (accessLog: errors)"
    return "every request is logged (accessLog: all)"


def query_definitions(settings: Settings) -> list[dict]:
    """Keyword arguments of ``aws.cloudwatch.QueryDefinition``, one per saved query (none
    with ``accessLog: off``).

    Names contain ``/`` so the console files them in a folder per mesh.
    """
    if settings.access_log == "off":
        return []
    groups = envoy_log_groups(settings)
    note = f"\n# Access logs: {sampling_note(settings)}."
    return [
        {
            "name": f"{PROJECT}/{settings.mesh_name}/{title}",
            "query_string": query + note,
            "log_group_names": list(groups),
        }
        for title, query in _QUERIES
    ]


def query_by_title(settings: Settings, title: str) -> dict:
    """The definition of the saved query called ``title`` (for a dashboard log widget)."""
    return next(q for q in query_definitions(settings) if q["name"].endswith(f"/{title}"))


def query_fields(query: str) -> set[str]:
    """The log fields a query names (not its keywords, functions, aliases, literals or the
    ``@`` fields Logs Insights adds itself, nor words of its comments)."""
    words = [m.group(1) for m in _WORD.finditer(_COMMENT.sub("", query)) if m.group(1)]
    aliases = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "as"}
    return {w for w in words if w not in _KEYWORDS and w not in aliases}
