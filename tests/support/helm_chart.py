"""Check generated Helm values and Kubernetes objects against a chart's own files (pure).

Typical use (``REF`` is ``../shared/reference`` beside the project; a test must skip with a
reason when it is missing)::

    kps = REF / "kube-prometheus-stack-88.5.3"
    found = unknown_or_mistyped_keys(values, chart_values(kps),
                                     subchart_values(kps, REF / "grafana-chart-12.11.1"))
    assert not [f for f in found if f.is_error], found
    selectors = prometheus_rule_selector(values, RELEASE_NAME, kps)
    assert loads_rule(selectors, our_rule, "monitoring")
    assert validate_prometheus_rule(our_rule, kps / "crds/crd-prometheusrules.yaml") == []

What the functions emulate, and where it was read (the kube-prometheus-stack files in REF and
grafana's values.yaml are byte-identical to the upstream commits its README names, checked with
``git show <commit>:<path> | cmp``):

* Helm's values merge, ``merged_values``: helm/helm@1c73ea44ad243b51d5cb4f838de6bdf51ce817bc
  ``pkg/chartutil/coalesce.go`` (``coalesceValues``, ``coalesceTablesFullKey``): the user's
  value wins, maps merge recursively, lists and scalars replace, a user ``null`` deletes the
  chart default.
* The Prometheus resource's rule selectors, ``prometheus_rule_selector``:
  ``REF/kube-prometheus-stack-88.5.3/templates/prometheus.yaml`` lines 1-8 (``prometheus.enabled``,
  ``agentMode``) and 270-287 (``ruleNamespaceSelector``, ``ruleSelector``,
  ``ruleSelectorNilUsesHelmValues``); defaults in ``values.yaml`` lines 4440-4456.
* The labels of the chart's own PrometheusRules, ``chart_rule_labels``: the rule templates are not
  in REF; read at prometheus-community/helm-charts@ea930baeebeba39f56d6b44e351f23b2a072a600
  (tag kube-prometheus-stack-88.5.3): all 41 files of
  ``charts/kube-prometheus-stack/templates/prometheus/rules-1.14/`` carry the same block, e.g.
  ``general.rules.yaml`` lines 12-18 (namespace ``kube-prometheus-stack.namespace``; labels
  ``app: kube-prometheus-stack.name`` + ``kube-prometheus-stack.labels`` + ``defaultRules.labels``).
  The helpers are ``REF/.../templates/_helpers.tpl`` lines 3-5 (name), 70-73 (chartref), 75-87
  (labels, incl. ``commonLabels``), 138-144 (namespace); ``values.yaml`` lines 27 and 224.
* Selector semantics, ``selects`` / ``loads_rule``:
  kubernetes/kubernetes@d68e3f8f2285888c69be33127a862070984cb2e5
  ``staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go`` lines 34-40
  (``LabelSelectorAsSelector``: nil -> ``labels.Nothing()``, no requirements ->
  ``labels.Everything()``);
  prometheus-operator/prometheus-operator@6adcebc5076c34f4f55f8f5f7b1e528929373ac7
  ``pkg/apis/monitoring/v1/prometheus_types.go`` lines 1261-1270 ("An empty label selector
  matches all objects. A null label selector matches no objects."; a null
  ``ruleNamespaceSelector`` "matches the current namespace only"), ``pkg/operator/rules.go``
  line 107 (the operator converts ``spec.ruleSelector`` with ``LabelSelectorAsSelector``),
  ``pkg/operator/operator.go`` lines 592-596 (nil namespace selector -> the Prometheus
  object's own namespace), ``pkg/prometheus/server/rules.go`` line 34.
* The PrometheusRule schema, ``validate_prometheus_rule``:
  ``REF/kube-prometheus-stack-88.5.3/crds/crd-prometheusrules.yaml`` lines 22-265 (version ``v1``,
  served and stored; operator 0.93.1).

* Keys the values files do not hold but templates read:
  grafana-community/helm-charts@864f7794683680e5100a38670e103c4fa6e37e29
  ``charts/grafana/templates/_helpers.tpl`` line 15 reads ``.Values.fullnameOverride`` and
  ``_config.tpl`` line 175 ``.Values.adminPassword`` (values.yaml:572 shows it commented out).
  ``unknown_or_mistyped_keys`` reports the first as ``unknown`` (a test may allow it with
  that evidence) and the second as ``commented``.

Values are read with PyYAML (YAML 1.1, like Helm's go-yaml): ``yes``/``no`` are booleans in both.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# --- chart files -----------------------------------------------------------------------------


class ChartValues(dict):
    """A chart's ``values.yaml`` as a dict, plus the keys its comments document.

    ``commented`` maps a key path (tuple) that appears only as a commented-out example, such as
    grafana's ``# adminPassword: strongpassword``, to ``"values.yaml:<line>"``.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        source: str = "",
        commented: Mapping[tuple[str, ...], str] | None = None,
    ) -> None:
        super().__init__(data)
        self.source = source
        self.commented: dict[tuple[str, ...], str] = dict(commented or {})


def chart_values(chart_dir: Path) -> ChartValues:
    """The chart's ``values.yaml`` (an empty file is ``{}``)."""
    path = Path(chart_dir) / "values.yaml"
    text = path.read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: values are not a mapping")
    label = f"{Path(chart_dir).name}/values.yaml"
    return ChartValues(data, label, {p: f"{label}:{n}" for p, n in _commented_keys(text).items()})


def chart_metadata(chart_dir: Path) -> dict:
    """The chart's ``Chart.yaml``."""
    return yaml.safe_load((Path(chart_dir) / "Chart.yaml").read_text())


def subchart_values(chart_dir: Path, *subchart_dirs: Path) -> dict[str, dict | None]:
    """Every dependency of the chart (``Chart.yaml`` ``dependencies``, by alias or name) mapped to
    the values of the matching chart among ``subchart_dirs``, or to None when we do not have them.

    Raises if a given subchart's version differs from an exactly pinned dependency version.
    """
    given = {}
    for directory in subchart_dirs:
        meta = chart_metadata(directory)
        given[meta["name"]] = (meta, directory)
    out: dict[str, dict | None] = {}
    for dep in chart_metadata(chart_dir).get("dependencies") or []:
        key = dep.get("alias") or dep["name"]
        if dep["name"] not in given:
            out[key] = None
            continue
        meta, directory = given[dep["name"]]
        wanted = str(dep.get("version", ""))
        if re.fullmatch(r"\d+\.\d+\.\d+", wanted) and wanted != str(meta.get("version")):
            raise ValueError(
                f"{directory}: {dep['name']} {meta.get('version')}, but the chart "
                f"depends on {wanted}"
            )
        out[key] = chart_values(directory)
    return out


_COMMENTED_KEY = re.compile(
    r"^(?P<indent> *)#(?P<pad> *)(?P<key>[A-Za-z_][A-Za-z0-9_.\-/]*):(\s|$)"
)
_KEY = re.compile(
    r"^(?P<indent> *)(?P<dash>- +)?(?P<key>\"[^\"]+\"|'[^']+'|[^\s#'\"\-][^:#]*?)"
    r":(?P<rest>\s.*|)$"
)


def _commented_keys(text: str) -> dict[tuple[str, ...], int]:
    """Key paths that the values file only shows in comments (``# key: value``), by line.

    A commented key belongs to the real keys indented less than its ``#`` and, inside one
    comment block, to the commented keys above it indented less than it (so
    ``# ruleSelector:`` / ``#   matchLabels:`` nest); keys inside list items get a ``[]``
    segment (never matched).
    """
    stack: list[tuple[int, str]] = []
    in_comment: list[tuple[int, str]] = []
    block_indent: int | None = None
    found: dict[tuple[str, ...], int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if not stripped:
            in_comment = []
            continue
        if stripped.startswith("#"):
            m = _COMMENTED_KEY.match(line)
            if m and not stripped.startswith("##"):
                col = len(m["indent"]) + 1 + len(m["pad"])
                while in_comment and in_comment[-1][0] >= col:
                    in_comment.pop()
                path = (
                    tuple(k for i, k in stack if i < indent)
                    + tuple(k for _, k in in_comment)
                    + (m["key"],)
                )
                found.setdefault(path, lineno)
                in_comment.append((col, m["key"]))
            continue
        in_comment = []
        m = _KEY.match(line)
        if not m:
            if stripped.startswith("-"):
                while stack and stack[-1][0] >= indent:
                    stack.pop()
                stack.append((indent, "[]"))
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if m["dash"]:
            stack.append((indent, "[]"))
            indent += len(m["dash"])
        stack.append((indent, m["key"].strip("\"'")))
        if m["rest"].strip()[:1] in ("|", ">"):
            block_indent = indent
    return found


# --- Helm values -----------------------------------------------------------------------------


def merged_values(chart: Mapping[str, Any], ours: Mapping[str, Any]) -> dict:
    """Chart defaults deep-merged with ours the way Helm coalesces them (coalesce.go): our value
    wins, maps merge recursively, lists and scalars replace, our ``None`` deletes the default."""
    out = copy.deepcopy(dict(ours))
    _coalesce(out, chart)
    return out


def _coalesce(dst: dict, src: Mapping[str, Any]) -> None:
    for key, default in src.items():
        if key in dst and dst[key] is None:
            del dst[key]
        elif key not in dst:
            dst[key] = copy.deepcopy(default)
        elif isinstance(default, dict) and isinstance(dst[key], dict):
            _coalesce(dst[key], default)
        # otherwise ours stays (Helm warns when a table meets a non-table, and keeps ours)


UNKNOWN = "unknown"  # no such key in the chart's values (error)
MISTYPED = "mistyped"  # the key exists, our value has an incompatible type (error)
UNVERIFIABLE = "unverifiable"  # under a dependency whose values.yaml we do not have
COMMENTED = "commented"  # not in values, but the values file documents it in a comment
ERROR_KINDS = frozenset({UNKNOWN, MISTYPED})


class KeyFinding(str):
    """A values path such as ``prometheus.prometheusSpec.retentionSize`` (the string itself), with
    ``kind`` (``unknown``, ``mistyped``, ``unverifiable``, ``commented``) and ``detail``."""

    kind: str
    detail: str

    def __new__(cls, path: str, kind: str, detail: str) -> KeyFinding:
        obj = super().__new__(cls, path)
        obj.kind = kind
        obj.detail = detail
        return obj

    @property
    def path(self) -> str:
        return str.__str__(self)

    @property
    def is_error(self) -> bool:
        return self.kind in ERROR_KINDS

    def __repr__(self) -> str:
        return f"{self.path}: {self.kind} ({self.detail})"

    def __reduce__(self) -> tuple:  # keeps kind/detail through pickling (pytest-xdist)
        return (KeyFinding, (self.path, self.kind, self.detail))


def format_path(path: Iterable[Any]) -> str:
    """``("prometheus", "prometheusSpec", "retentionSize")`` ->
    ``prometheus.prometheusSpec.retentionSize``; keys with dots or spaces are written
    ``["app.kubernetes.io/name"]``."""
    out = ""
    for key in path:
        key = str(key)
        if re.fullmatch(r"[^.\s\[\]\"]+", key):
            out += f".{key}" if out else key
        else:
            out += f'["{key}"]'
    return out


def unknown_or_mistyped_keys(
    ours: Mapping[str, Any],
    chart: Mapping[str, Any],
    subcharts: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[KeyFinding]:
    """Every key path we set that the chart's values do not have, or set with an incompatible type.

    Findings are ``KeyFinding`` strings (the path); ``f.is_error`` is true for ``unknown`` and
    ``mistyped``. ``subcharts`` maps a dependency's key to its values (checked against those
    values overlaid with the chart's own section for it, as Helm does) or to None: keys the
    chart's own section does not set are then ``unverifiable``, not errors. Keys the values file
    only shows commented out are ``commented`` (not errors; detail names the line).

    Types (Helm has no schema here; the templates decide, so this is the compatibility that
    holds for any template): a chart default of null, ``{}`` or ``[]`` takes anything
    structured of that shape and its sub-keys are free-form; a non-empty map default is checked
    key by key; lists are never entered (Helm replaces them). Our ``None`` is always accepted
    (it deletes the default). Scalars: booleans must stay booleans (a string "false" is true
    in a template ``if``), numbers must stay numbers, and a string default does not take a
    number (it renders unquoted, and Helm holds numbers as float64: 1000000 renders 1e+06).
    """
    findings: list[KeyFinding] = []
    subcharts = subcharts or {}
    commented = dict(getattr(chart, "commented", {}))
    for key, value in ours.items():
        path = (key,)
        if key in subcharts:
            if value is not None and not isinstance(value, Mapping):
                findings.append(
                    KeyFinding(
                        format_path(path),
                        MISTYPED,
                        f"subchart values are a map, ours is a {_kind(value)}",
                    )
                )
                continue
            sub = subcharts[key]
            own = chart.get(key)
            own = own if isinstance(own, dict) else {}
            sub_commented = {p: line for p, line in commented.items() if p[0] == key}
            if sub is None:
                _walk(
                    value,
                    own,
                    path,
                    sub_commented,
                    missing=UNVERIFIABLE,
                    missing_detail=f"the values of dependency '{key}' are not available",
                    findings=findings,
                )
            else:
                sub_commented = {
                    **{(key, *p): line for p, line in getattr(sub, "commented", {}).items()},
                    **sub_commented,
                }
                _walk(
                    value,
                    merged_values(sub, own),
                    path,
                    sub_commented,
                    missing=UNKNOWN,
                    missing_detail=f"not in the values of subchart '{key}'",
                    findings=findings,
                )
            continue
        _walk(
            {key: value},
            chart,
            (),
            commented,
            missing=UNKNOWN,
            missing_detail="not in the chart's values",
            findings=findings,
        )
    return findings


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _walk(
    ours: Any,
    chart: Any,
    path: tuple,
    commented: Mapping[tuple, str],
    *,
    missing: str,
    missing_detail: str,
    findings: list[KeyFinding],
) -> None:
    if not isinstance(ours, Mapping):
        return
    for key, value in ours.items():
        here = (*path, key)
        where = format_path(here)
        if not isinstance(chart, Mapping) or key not in chart:
            line = _lookup_commented(commented, here)
            if line:
                findings.append(KeyFinding(where, COMMENTED, f"only in a comment at {line}"))
            else:
                findings.append(KeyFinding(where, missing, missing_detail))
            continue
        default = chart[key]
        problem = _incompatible(value, default)
        if problem:
            findings.append(KeyFinding(where, MISTYPED, problem))
        elif isinstance(value, Mapping) and isinstance(default, Mapping) and default:
            _walk(
                value,
                default,
                here,
                commented,
                missing=missing,
                missing_detail=missing_detail,
                findings=findings,
            )


def _lookup_commented(commented: Mapping[tuple, str], path: tuple) -> str | None:
    return commented.get(tuple(str(k) for k in path)) if commented else None


def _incompatible(ours: Any, default: Any) -> str | None:
    mine, theirs = _kind(ours), _kind(default)
    if "null" in (mine, theirs) or mine == theirs:
        return None
    if theirs in ("map", "list") or mine in ("map", "list"):
        return f"chart default is a {theirs} ({_short(default)}), ours is a {mine}"
    if theirs == "boolean" or mine == "boolean":
        return (
            f"chart default is a {theirs} ({_short(default)}), ours is a {mine}: "
            "Go templates treat any non-empty string or non-zero number as true"
        )
    if theirs == "number":
        return f"chart default is a number ({_short(default)}), ours is a string"
    return (
        f"chart default is a string ({_short(default)}), ours is a number: it renders "
        "unquoted and Helm holds numbers as float64"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- the Prometheus resource's rule selectors ------------------------------------------------


def _truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, maps and lists are false."""
    return bool(value)


def _tpl(value: Any, release_name: str, release_namespace: str | None) -> Any:
    """``tpl (toYaml value) .`` for the template actions a selector can sensibly hold."""
    if isinstance(value, Mapping):
        return {k: _tpl(v, release_name, release_namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_tpl(v, release_name, release_namespace) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def action(m: re.Match) -> str:
        if m["what"] == "Name":
            return release_name
        if release_namespace is None:
            raise ValueError(f"{value!r} needs release_namespace")
        return release_namespace

    out = re.sub(r"\{\{-?\s*\$?\.Release\.(?P<what>Name|Namespace)\s*-?\}\}", action, value)
    if "{{" in out:
        raise ValueError(f"cannot emulate tpl of {value!r}")
    return out


def prometheus_rule_selector(
    values: Mapping[str, Any],
    release_name: str,
    chart_dir: Path,
    release_namespace: str | None = None,
) -> dict:
    """``spec.ruleSelector`` / ``spec.ruleNamespaceSelector`` of the chart's Prometheus resource
    for our ``values`` (merged over the chart's defaults), as templates/prometheus.yaml writes
    them. A key the template leaves out is absent (the operator then sees null); no Prometheus
    resource, or a PrometheusAgent (no rules), gives ``{}``."""
    merged = merged_values(chart_values(chart_dir), values)
    prometheus = merged.get("prometheus") or {}
    # prometheus.yaml:1 `{{- if .Values.prometheus.enabled }}`: no Prometheus resource at all.
    if not _truthy(prometheus.get("enabled")):
        return {}
    # prometheus.yaml:2-4 agentMode renders a PrometheusAgent; :270 `{{- if not
    # .Values.prometheus.agentMode }}` guards both rule selectors.
    if _truthy(prometheus.get("agentMode")):
        return {}
    spec = prometheus.get("prometheusSpec") or {}
    out: dict[str, Any] = {}
    namespace_selector = spec.get("ruleNamespaceSelector")
    # prometheus.yaml:271-273 `{{- if ...ruleNamespaceSelector }}` -> tpl (toYaml ...)
    if _truthy(namespace_selector):
        out["ruleNamespaceSelector"] = _tpl(namespace_selector, release_name, release_namespace)
    else:
        # prometheus.yaml:274-275 `{{ else }} ruleNamespaceSelector: {}`: the chart never leaves
        # it null, so nil/{} both mean ALL namespaces (despite values.yaml:4440 "If nil, select
        # own namespace").
        out["ruleNamespaceSelector"] = {}
    selector = spec.get("ruleSelector")
    if _truthy(selector):
        # prometheus.yaml:277-279 a non-empty ruleSelector is used as is (through tpl).
        out["ruleSelector"] = _tpl(selector, release_name, release_namespace)
    elif _truthy(spec.get("ruleSelectorNilUsesHelmValues")):
        # prometheus.yaml:280-283 nil or {} + ruleSelectorNilUsesHelmValues: match the
        # release label that _helpers.tpl:82 puts on the chart's own objects.
        out["ruleSelector"] = {"matchLabels": {"release": release_name}}
    elif selector is not None:
        # prometheus.yaml:284-285 `not (kindIs "invalid" ...)`: {} (or "", false) -> {} = all.
        out["ruleSelector"] = {}
    # else prometheus.yaml:286: nothing written -> null selector -> the operator selects none.
    return out


def _chart_name(merged: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    # _helpers.tpl:3-5 `default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-"`
    name = (merged.get("nameOverride") or meta["name"])[:50]
    return name[:-1] if name.endswith("-") else name


def chart_rule_labels(values: Mapping[str, Any], release_name: str, chart_dir: Path) -> dict:
    """The labels on the chart's own (default) PrometheusRules for our ``values``.

    rules-1.14/*.yaml lines 13-18 write ``app: <name>``, then the ``kube-prometheus-stack.labels``
    helper (_helpers.tpl:75-87: managed-by, instance, version, part-of, chart, release,
    heritage, then ``commonLabels``), then ``defaultRules.labels``; a later key wins here (as
    the YAML decoder keeps the last duplicate). Whether the rules exist at all depends on
    ``defaultRules.create`` and ``defaultRules.rules.*``, which this does not check.
    """
    meta = chart_metadata(chart_dir)
    merged = merged_values(chart_values(chart_dir), values)
    name = _chart_name(merged, meta)
    version = str(meta["version"]).replace("+", "_")
    labels: dict[str, Any] = {
        "app": name,  # rules-1.14/*.yaml:14
        "app.kubernetes.io/managed-by": "Helm",  # _helpers.tpl:77 .Release.Service
        "app.kubernetes.io/instance": release_name,  # _helpers.tpl:78
        "app.kubernetes.io/version": version,  # _helpers.tpl:79
        "app.kubernetes.io/part-of": name,  # _helpers.tpl:80
        "chart": f"{meta['name']}-{version}",  # _helpers.tpl:70-73, 81
        "release": release_name,  # _helpers.tpl:82
        "heritage": "Helm",  # _helpers.tpl:83
    }
    labels.update(merged.get("commonLabels") or {})  # _helpers.tpl:84-86
    labels.update((merged.get("defaultRules") or {}).get("labels") or {})  # rules-1.14:16-18
    return labels


# --- label selectors -------------------------------------------------------------------------


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Kubernetes ``LabelSelector`` semantics: None selects nothing, ``{}`` (no requirements)
    selects everything; ``matchLabels`` and ``matchExpressions`` (In, NotIn, Exists,
    DoesNotExist; NotIn also matches when the label is absent) are ANDed. Raises ValueError on
    what the API server would reject (unknown fields or operators, bad value lists)."""
    if selector is None:
        return False
    if not isinstance(selector, Mapping):
        raise ValueError(f"a label selector is a map, not {selector!r}")
    extra = set(selector) - {"matchLabels", "matchExpressions"}
    if extra:
        raise ValueError(f"unknown label selector fields {sorted(extra)}")
    labels = labels or {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    ok = True
    for key, value in match_labels.items():
        if not isinstance(value, str):
            raise ValueError(f"matchLabels[{key!r}] must be a string, not {value!r}")
        ok = ok and labels.get(key) == value
    for expr in expressions:
        key, operator = expr.get("key"), expr.get("operator")
        values = list(expr.get("values") or [])
        if operator in ("In", "NotIn"):
            if not values:
                raise ValueError(f"{operator} on {key!r} needs values")
            if operator == "In":
                ok = ok and key in labels and labels[key] in values
            else:
                ok = ok and (key not in labels or labels[key] not in values)
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError(f"{operator} on {key!r} takes no values")
            ok = ok and ((key in labels) == (operator == "Exists"))
        else:
            raise ValueError(f"{operator!r} is not a valid label selector operator")
    return ok


def loads_rule(
    selectors: Mapping[str, Any],
    rule: Mapping[str, Any],
    prometheus_namespace: str,
    namespace_labels: Mapping[str, str] | None = None,
) -> bool:
    """Whether a Prometheus with ``selectors`` (from ``prometheus_rule_selector``) loads the
    PrometheusRule ``rule``: its namespace must be selected (absent/None selector -> only
    ``prometheus_namespace``; namespaces carry ``kubernetes.io/metadata.name`` unless
    ``namespace_labels`` is given) and its labels must match ``ruleSelector``."""
    metadata = rule.get("metadata") or {}
    namespace = metadata.get("namespace") or "default"
    namespace_selector = selectors.get("ruleNamespaceSelector")
    if namespace_selector is None:
        in_namespace = namespace == prometheus_namespace
    else:
        ns_labels = {"kubernetes.io/metadata.name": namespace, **(namespace_labels or {})}
        in_namespace = selects(namespace_selector, ns_labels)
    return in_namespace and selects(selectors.get("ruleSelector"), metadata.get("labels") or {})


# --- the PrometheusRule CRD ------------------------------------------------------------------


_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _qualified_name_error(key: Any) -> str | None:
    if not isinstance(key, str):
        return "must be a string"
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return "prefix must be a DNS subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return "name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


def _metadata_errors(metadata: Any, namespaced: bool) -> list[str]:
    if not isinstance(metadata, Mapping):
        return ["metadata: must be a map"]
    errors = []
    name = metadata.get("name")
    if name is not None and (
        not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name)
    ):
        errors.append(f"metadata.name: {name!r} is not a DNS subdomain")
    namespace = metadata.get("namespace")
    if namespace is not None and not namespaced:
        errors.append("metadata.namespace: the resource is cluster-scoped")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace)
    ):
        errors.append(f"metadata.namespace: {namespace!r} is not a DNS label")
    for field in ("labels", "annotations"):
        entries = metadata.get(field)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            errors.append(f"metadata.{field}: must be a map")
            continue
        for key, value in entries.items():
            where = f"metadata.{field}[{key!r}]"
            problem = _qualified_name_error(key)
            if problem:
                errors.append(f"{where}: key {problem}")
            if not isinstance(value, str):
                errors.append(f"{where}: value {value!r} must be a string")
            elif field == "labels" and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
                errors.append(f"{where}: {value!r} is not a valid label value")
    return errors


def _go_pattern(pattern: str) -> str:
    """A Go (RE2) regexp as a Python one: RE2 lets ``(?i)`` set flags mid-pattern until the end
    of the enclosing group (the CRD's ``^(?i)(abort|warn)?$``); Python 3.11+ refuses that, so
    such flags become scoped groups ``(?i:...)``, closed at each ``|`` and reopened after it."""
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: flags opened as scoped groups
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            pair = pattern[i : i + 2]
            out.append("\\Z" if pair == "\\z" else pair)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "[":
            out.append(c)
            i += 1
            in_class = True
            for literal in ("^", "]"):
                if pattern[i : i + 1] == literal:
                    out.append(literal)
                    i += 1
            continue
        flag = re.match(r"\(\?([imsU-]+)\)", pattern[i:])
        if flag:
            if "U" in flag[1]:
                raise ValueError(f"RE2 flag U has no Python equivalent: {pattern!r}")
            if i == 0:
                out.append(flag[0])  # leading global flags mean the same in Python
            else:
                out.append(f"(?{flag[1]}:")
                scoped[-1].append(flag[1])
            i += len(flag[0])
            continue
        if c == "(":
            scoped.append([])
        elif c == ")":
            out.append(")" * len(scoped.pop()))
        elif c == "|" and scoped[-1]:
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{f}:" for f in scoped[-1]))
            i += 1
            continue
        out.append(c)
        i += 1
    out.append(")" * len(scoped.pop()))
    return "".join(out)


@functools.cache
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(_go_pattern(pattern))


def _k8s_pattern(
    validator: Any, pattern: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _k8s_int_or_string(
    validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    # Structural schemas pair this with anyOf [integer, string] (as this CRD does); check it
    # here only when they do not.
    if (
        value
        and "anyOf" not in schema
        and "type" not in schema
        and (isinstance(instance, bool) or not isinstance(instance, (int, str)))
    ):
        yield jsonschema.ValidationError(f"{instance!r} is neither an integer nor a string")


def _k8s_list_type(
    validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if not validator.is_type(instance, "array"):
        return
    if value == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen = set()
        for item in instance:
            if not isinstance(item, Mapping):
                continue
            ident = tuple(repr(item.get(k)) for k in keys)
            if ident in seen:
                shown = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
                yield jsonschema.ValidationError(f"duplicate entries for map keys {shown}")
            seen.add(ident)
    elif value == "set":
        seen_items: list[Any] = []
        for item in instance:
            if item in seen_items:
                yield jsonschema.ValidationError(f"duplicate entries in a set: {item!r}")
            seen_items.append(item)


def _structural(schema: Any) -> Any:
    """The CRD schema in jsonschema terms: ``nullable`` adds null to the type, and an object
    with ``properties`` but neither ``additionalProperties`` nor
    ``x-kubernetes-preserve-unknown-fields`` rejects other fields (the API server prunes them
    silently, or refuses them under strict field validation, kubectl's default)."""
    if isinstance(schema, list):
        return [_structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _structural(v) for k, v in schema.items() if k != "description"}
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


_CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,  # OpenAPI v3.0 schema objects follow JSON Schema draft 4/5
    {
        "pattern": _k8s_pattern,
        "x-kubernetes-int-or-string": _k8s_int_or_string,
        "x-kubernetes-list-type": _k8s_list_type,
    },
)


def _crd(crd_path: Path) -> dict:
    for doc in yaml.safe_load_all(Path(crd_path).read_text()):
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            return doc
    raise ValueError(f"{crd_path}: no CustomResourceDefinition")


def validate_prometheus_rule(
    obj: Mapping[str, Any], crd_path: Path, version: str = "v1"
) -> list[str]:
    """Errors (``"<path>: <message>"``, empty if valid) of a PrometheusRule object against the
    CRD's ``openAPIV3Schema`` for served ``version``, plus apiVersion/kind and metadata name,
    namespace and label syntax. Not covered: CEL ``x-kubernetes-validations``, ``format``, and
    the operator's own PromQL parse of each rule (use promtool)."""
    crd = _crd(crd_path)
    spec = crd["spec"]
    entry = next((v for v in spec["versions"] if v["name"] == version), None)
    if entry is None or not entry.get("served"):
        return [f"apiVersion: {spec['group']}/{version} is not served by the CRD"]
    errors = []
    if obj.get("apiVersion") != f"{spec['group']}/{version}":
        errors.append(
            f"apiVersion: {obj.get('apiVersion')!r}, the CRD serves {spec['group']}/{version}"
        )
    if obj.get("kind") != spec["names"]["kind"]:
        errors.append(f"kind: {obj.get('kind')!r}, the CRD defines {spec['names']['kind']!r}")
    errors += _metadata_errors(obj.get("metadata") or {}, spec.get("scope") == "Namespaced")
    schema = _structural(entry["schema"]["openAPIV3Schema"])
    validator = _CrdValidator(schema)
    for error in sorted(validator.iter_errors(dict(obj)), key=lambda e: list(e.absolute_path)):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        errors.append(f"{where.lstrip('.') or '<root>'}: {error.message}")
    return errors
