"""The Pulumi CLI's own project/stack config validation, re-implemented in Python.

The Pulumi CLI cannot run on this machine, so tests apply these rules to
``Pulumi.yaml`` and every ``Pulumi.<stack>.yaml`` instead.  They are ported from
the CLI's Go source, not from its documentation, and the error texts are the
Go format strings filled in the same way.

Source read (a snapshot of github.com/pulumi/pulumi):
    commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8 (2026-08-21, "Add l2-large-map test (#24361)")
    pkg/workspace/config.go                      stack config rules (lines 30-378)
    pkg/workspace/config_project_test.go         expected messages (lines 77-735)
    sdk/go/common/workspace/project.go           config declarations, ValidateProject, Validate
                                                 (lines 49-889)
    sdk/go/common/workspace/project.json         JSON schema of Pulumi.yaml (lines 1-400)
    sdk/go/common/workspace/loaders.go           load order, stack key namespacing (lines 61-233)
    sdk/go/common/resource/config/{key,object,map}.go  keys, how stack values are stored
    pkg/cmd/pulumi/operations/up.go:206-217 (and preview/refresh/destroy/import/watch/logs):
        every command wraps the error as "validating stack config: %w"
Libraries pinned by that commit's sdk/go.mod, also read:
    github.com/santhosh-tekuri/jsonschema v5.0.0 = aec3d896f43e0f3e2e627a6edd1367704dfb017d
        (schema.go:155-744, compiler.go:311-321, errors.go:70-160): the schema error texts
    gopkg.in/yaml.v3 v3.0.1 = f6f7691b1fdeb513f56608cd2c32c51f8194bf51 (resolve.go:47-325,
        decode.go:565-830): how plain YAML scalars become values, duplicate keys
    github.com/hashicorp/go-multierror v1.1.1: "%d errors occurred:\\n\\t* ...\\n\\n"

Public API: ``PulumiConfigError``, ``validate_project``, ``validate_stack_config``, ``load_yaml``.
``str(error)`` is the message the Go function returns (the text the Go tests assert on);
``error.cli_text`` is that message with the wrapper the CLI adds when it prints it.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote as _urlquote

import yaml

PULUMI_COMMIT = "1b5949891b3cefcb9974752b24a5ecef0acc86c8"
JSONSCHEMA_V5_COMMIT = "aec3d896f43e0f3e2e627a6edd1367704dfb017d"
YAML_V3_COMMIT = "f6f7691b1fdeb513f56608cd2c32c51f8194bf51"

# project.go:49-55
_ARRAY, _INTEGER, _STRING, _BOOLEAN, _OBJECT = "array", "integer", "string", "boolean", "object"


class PulumiConfigError(Exception):
    """A config error the Pulumi CLI would report.

    ``str(e)`` / ``e.message`` is the Go error text (e.g.
    ``Stack 'dev' is missing configuration value 'certificateArn'``);
    ``e.cli_text`` adds the wrapper the CLI prints around it (e.g.
    ``validating stack config: ...`` or ``could not validate 'Pulumi.yaml': ...``).
    """

    def __init__(self, message: str, cli_text: str | None = None):
        super().__init__(message)
        self.message = message
        self.cli_text = cli_text if cli_text is not None else message


# --------------------------------------------------------------------------------------
# YAML as yaml.v3 reads it.  PyYAML follows YAML 1.1 (yes/no/on/off are booleans,
# 2024-01-01 is a date); the CLI reads with yaml.v3 (only true/True/TRUE/false/... are
# booleans), so the same file can mean different values.  load_yaml() follows yaml.v3.
# --------------------------------------------------------------------------------------

_PLAIN = "tag:pulumi-cli-rules,2026:plain"
# yaml.v3 resolve.go:47-60
_RESOLVE_MAP = {
    **{s: True for s in ("true", "True", "TRUE")},
    **{s: False for s in ("false", "False", "FALSE")},
    **{s: None for s in ("", "~", "null", "Null", "NULL")},
    **{s: math.nan for s in (".nan", ".NaN", ".NAN")},
    **{s: math.inf for s in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{s: -math.inf for s in ("-.inf", "-.Inf", "-.INF")},
}
_YAML_STYLE_FLOAT = re.compile(
    r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"
)  # resolve.go:124
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


class GoTime:
    """A YAML timestamp as yaml.v3 decodes it into ``any``: a Go time.Time, not a string."""

    def __init__(self, text: str, when: _dt.datetime):
        self.text, self.when = text, when

    def go_string(self) -> str:
        """time.Time.String(): '2006-01-02 15:04:05.999999999 -0700 MST'."""
        w = self.when
        frac = f".{w.microsecond:06d}".rstrip("0").rstrip(".") if w.microsecond else ""
        off = w.utcoffset() or _dt.timedelta(0)
        mins = int(off.total_seconds()) // 60
        zone = f"{'+' if mins >= 0 else '-'}{abs(mins) // 60:02d}{abs(mins) % 60:02d}"
        name = "UTC" if w.tzinfo is _dt.UTC else zone  # FixedZone("", off) prints the offset
        return w.strftime("%Y-%m-%d %H:%M:%S") + f"{frac} {zone} {name}"

    def rfc3339(self) -> str:
        """time.Time.MarshalJSON/YAML form (RFC3339Nano)."""
        w = self.when
        frac = f".{w.microsecond:06d}".rstrip("0") if w.microsecond else ""
        off = w.utcoffset() or _dt.timedelta(0)
        if w.tzinfo is _dt.UTC:
            zone = "Z"
        else:
            mins = int(off.total_seconds()) // 60
            zone = f"{'+' if mins >= 0 else '-'}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"
        return w.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone

    def __repr__(self) -> str:
        return f"GoTime({self.text!r})"


_TS_FORMATS = (  # yaml.v3 resolve.go:294-299 allowedTimestampFormats
    re.compile(
        r"(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[+-]\d{2}:\d{2})"
    ),
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?()"),
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})()()()()()"),
)


def _parse_timestamp(s: str) -> GoTime | None:
    # resolve.go:306-325: quick check "YYYY-", then time.Parse with each format.
    if not re.match(r"\d{4}-", s):
        return None
    for fmt in _TS_FORMATS:
        m = fmt.fullmatch(s)
        if not m:
            continue
        y, mo, d, h, mi, sec, frac, zone = m.groups()
        tz = _dt.UTC
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            tz = _dt.timezone(sign * _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        try:
            when = _dt.datetime(
                int(y),
                int(mo),
                int(d),
                int(h or 0),
                int(mi or 0),
                int(sec or 0),
                int((frac or ".0")[1:7].ljust(6, "0")),
                tzinfo=tz,
            )
        except ValueError:
            return None
        return GoTime(s, when)
    return None


def _go_parse_int(s: str, base: int, signed: bool) -> int | None:
    """strconv.ParseInt/ParseUint(s, base, 64); None on error.  Underscores already removed."""
    neg = False
    if signed and s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if not s:
        return None
    if base == 0:
        base = 10
        if s[0] == "0":
            if len(s) >= 3 and s[1] in "xX":
                base, s = 16, s[2:]
            elif len(s) >= 3 and s[1] in "oO":
                base, s = 8, s[2:]
            elif len(s) >= 3 and s[1] in "bB":
                base, s = 2, s[2:]
            else:
                base, s = 8, s[1:] or "0"
    digits = "0123456789abcdef"[:base]
    if not s or any(c.lower() not in digits for c in s):
        return None
    v = int(s, base)
    v = -v if neg else v
    if signed:
        return v if _INT64_MIN <= v <= _INT64_MAX else None
    return v if v <= _UINT64_MAX else None


def _go_resolve(s: str) -> Any:
    """yaml.v3 resolve.go:126-264 for a plain (unquoted, untagged) scalar."""
    if s in _RESOLVE_MAP:
        return _RESOLVE_MAP[s]
    hint = s[:1]
    if hint == ".":
        try:
            return float(s) if re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", s) else s
        except ValueError:
            return s
    if hint and (hint in "+-" or hint.isdigit()):
        ts = _parse_timestamp(s)
        if ts is not None:
            return ts
        plain = s.replace("_", "")
        for signed in (True, False):
            v = _go_parse_int(plain, 0, signed)
            if v is not None:
                return v
        if _YAML_STYLE_FLOAT.match(plain):
            f = float(plain)
            if not math.isinf(f):  # ParseFloat reports ERANGE for 1e400: stays a string
                return f
        for prefix, base in (("0b", 2), ("-0b", 2), ("0o", 8), ("-0o", 8)):
            if plain.startswith(prefix):
                v = _go_parse_int(
                    ("-" if prefix[0] == "-" else "") + plain[len(prefix) :], base, True
                )
                if v is not None:
                    return v
    return s


def _go_quote(s: str) -> str:
    """%#v / strconv.Quote of a string (close enough: JSON escaping)."""
    return json.dumps(s, ensure_ascii=False)


class _GoYAMLLoader(yaml.SafeLoader):
    """PyYAML loader that resolves plain scalars as yaml.v3 does and rejects duplicate keys."""

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        # yaml.v3 decode.go:767-783: uniqueKeys is on by default.
        seen: dict = {}
        errs = []
        for key_node, _ in node.value:
            k = (
                type(key_node),
                key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node),
            )
            if k in seen:
                errs.append(
                    f"line {key_node.start_mark.line + 1}: "
                    f"mapping key {_go_quote(str(key_node.value))} "
                    f"already defined at line {seen[k]}"
                )
            else:
                seen[k] = key_node.start_mark.line + 1
        if errs:
            raise PulumiConfigError("yaml: unmarshal errors:\n  " + "\n  ".join(errs))
        return super().construct_mapping(node, deep=deep)


_GoYAMLLoader.add_constructor(_PLAIN, lambda loader, node: _go_resolve(node.value))


def load_yaml(path_or_text: str) -> Any:
    """Load a YAML file (or YAML text if it contains a newline) the way the CLI's yaml.v3 does.

    Differences from ``yaml.safe_load``: only true/True/TRUE/false/False/FALSE are booleans
    (``yes``/``on`` stay strings), 0-prefixed integers are octal, timestamps become
    ``GoTime``, and a duplicate mapping key is an error (yaml.v3 uniqueKeys).
    """
    text = path_or_text
    if "\n" not in path_or_text:
        with open(path_or_text, encoding="utf-8-sig") as f:  # readFileStripUTF8BOM
            text = f.read()
    return yaml.load(text, Loader=_GoYAMLLoader)


# --------------------------------------------------------------------------------------
# Go value helpers
# --------------------------------------------------------------------------------------


def _to_go(v: Any) -> Any:
    """Accept yaml.safe_load output too: dates/datetimes become GoTime."""
    if isinstance(v, _dt.datetime):
        when = v if v.tzinfo else v.replace(tzinfo=_dt.UTC)
        return GoTime(v.isoformat(), when)
    if isinstance(v, _dt.date):
        return GoTime(v.isoformat(), _dt.datetime(v.year, v.month, v.day, tzinfo=_dt.UTC))
    if isinstance(v, dict):
        return {k: _to_go(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_to_go(x) for x in v]
    return v


def _go_type_name(v: Any) -> str:
    """%T as Go prints a value decoded by yaml.v3."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, GoTime):
        return "time.Time"
    return "map[interface {}]interface {}" if isinstance(v, dict) else type(v).__name__


def _shortest(f: float) -> tuple:
    """Shortest decimal digits of |f| and Go's decimal point position (value = 0.DIGITS x 10^dp)."""
    _, digits, exp = decimal.Decimal(repr(abs(f))).as_tuple()
    assert isinstance(exp, int), f"{f} is not finite"
    ds = "".join(map(str, digits))
    dp = len(ds) + exp
    ds = ds.rstrip("0") or "0"
    return ds, dp


def _fmt_f(ds: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * (-dp) + ds
    if dp >= len(ds):
        return ds + "0" * (dp - len(ds))
    return ds[:dp] + "." + ds[dp:]


def _fmt_e(ds: str, dp: int) -> str:
    exp = dp - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def _go_format_g(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64) (what yaml.v3 writes when it re-marshals a float)."""
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    ds, dp = _shortest(f)
    exp = dp - 1
    s = _fmt_e(ds, dp) if exp < -4 or exp >= 6 else _fmt_f(ds, dp)  # shortest => eprec 6
    return ("-" if f < 0 else "") + s


def _go_json(v: Any) -> str:
    """encoding/json.Marshal: compact, map keys sorted, <>& escaped, Go float format."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise PulumiConfigError(f"json: unsupported value: {_go_format_g(v)}")
        if v == 0:
            return "-0" if math.copysign(1, v) < 0 else "0"
        ds, dp = _shortest(v)
        if abs(v) < 1e-6 or abs(v) >= 1e21:
            s = re.sub(r"e-0(\d)$", r"e-\1", _fmt_e(ds, dp))
        else:
            s = _fmt_f(ds, dp)
        return ("-" if v < 0 else "") + s
    if isinstance(v, str):
        s = json.dumps(v, ensure_ascii=False)
        for c, e in (
            ("<", "\\u003c"),
            (">", "\\u003e"),
            ("&", "\\u0026"),
            ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"),
        ):
            s = s.replace(c, e)
        return s
    if isinstance(v, GoTime):
        return _go_json(v.rfc3339())
    if isinstance(v, list):
        return "[" + ",".join(_go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + ",".join(_go_json(str(k)) + ":" + _go_json(v[k]) for k in sorted(v, key=str))
            + "}"
        )
    raise TypeError(f"unexpected value {v!r}")


def _yaml_roundtrip(v: Any) -> Any:
    """The CLI marshals the decoded file back to YAML and decodes it again (loaders.go:133-136,
    219-222).  yaml.v3 writes floats with FormatFloat('g'), so 7.0 comes back as int 7."""
    if isinstance(v, float):
        return _go_resolve(_go_format_g(v))
    if isinstance(v, dict):
        return {k: _yaml_roundtrip(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_yaml_roundtrip(x) for x in v]
    return v


def _simplify_value(raw: Any) -> Any:
    """project.go:520-552 SimplifyMarshalledValue: every map key must be a string."""
    if isinstance(raw, dict):
        out = {}
        for k, x in raw.items():
            if not isinstance(k, str):  # fmt %s of a non-string: %!s(int=4), %!s(<nil>)
                bad = "%!s(<nil>)" if k is None else f"%!s({_go_type_name(k)}={_go_fmt_v(k)})"
                raise PulumiConfigError(f"expected only string keys, got '{bad}'")
            out[k] = _simplify_value(x)
        return out
    if isinstance(raw, list):
        return [_simplify_value(x) for x in raw]
    return raw


def _simplify_project(raw: Any) -> dict:
    """project.go:554-567 SimplifyMarshalledProject."""
    result = _simplify_value(raw)
    if not isinstance(result, dict):
        raise PulumiConfigError(f"expected project to be an object, was '{_go_type_name(result)}'")
    return result


def _go_fmt_v(v: Any) -> str:
    """fmt %v of a scalar."""
    if v is None:
        return "<nil>"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, float):
        return _go_format_g(v).replace(".inf", "+Inf").replace(".nan", "NaN")
    if isinstance(v, GoTime):
        return v.go_string()
    return str(v)


# --------------------------------------------------------------------------------------
# Pulumi.yaml JSON schema (project.json, whole file), as santhosh-tekuri/jsonschema v5.0.0
# checks it.  Transcribed without the "description" texts.
# --------------------------------------------------------------------------------------

_SN = {"type": ["string", "null"]}
_PROJECT_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": _SN,
        "author": _SN,
        "website": _SN,
        "license": _SN,
        "runtime": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "options": {"type": "object", "additionalProperties": True},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "main": _SN,
        "config": {
            "type": ["object", "string", "null"],
            "properties": {"secret": {"type": "boolean"}},
            "additionalProperties": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "integer"},
                    {"type": "boolean"},
                    {"type": "array"},
                    {"$ref": "#/$defs/configTypeDeclaration"},
                ]
            },
        },
        "stackConfigDir": _SN,
        "backend": {
            "type": ["object", "null"],
            "properties": {"url": {"type": "string"}},
            "additionalProperties": False,
        },
        "options": {
            "type": ["object", "null"],
            "properties": {"refresh": {"type": "string", "const": "always"}},
            "additionalProperties": False,
        },
        "template": {
            "type": ["object", "null"],
            "properties": {
                "displayName": _SN,
                "description": _SN,
                "quickstart": _SN,
                "important": {"type": ["boolean", "null"]},
                "metadata": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": "string"},
                },
                "config": {
                    "type": ["object", "null"],
                    "additionalProperties": {
                        "properties": {
                            "description": _SN,
                            "default": {},
                            "secret": {"type": ["boolean", "null"]},
                        }
                    },
                },
            },
            "additionalProperties": False,
        },
        "packages": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [{"type": "string"}, {"$ref": "#/$defs/packageSpec"}]
            },
        },
        "plugins": {
            "type": "object",
            "properties": {
                "providers": {"type": "array", "items": {"$ref": "#/$defs/pluginOptions"}},
                "analyzers": {"type": "array", "items": {"$ref": "#/$defs/pluginOptions"}},
                "languages": {"type": "array", "items": {"$ref": "#/$defs/pluginOptions"}},
            },
        },
    },
    "required": ["name"],
    "additionalProperties": True,
    "$defs": {
        "packageSpec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source"],
            "properties": {
                "source": {"type": "string"},
                "version": {"type": "string"},
                "parameters": {"type": "array", "items": {"type": "string"}},
                "pluginDownloadURL": {"type": "string"},
                "checksums": {"type": "object", "additionalProperties": {"type": "string"}},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "pluginOptions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "path"],
            "properties": {
                "name": {"type": "string"},
                "path": {"type": "string"},
                "version": {"type": "string"},
            },
        },
        "simpleConfigType": {"enum": ["string", "integer", "boolean", "array", "object"]},
        "configItemsType": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {
                    "oneOf": [
                        {"$ref": "#/$defs/simpleConfigType"},
                        {"$ref": "#/$defs/configItemsType"},
                    ]
                },
                "items": {"$ref": "#/$defs/configItemsType"},
            },
            "if": {"properties": {"type": {"const": "array"}}},
            "then": {"required": ["items"]},
        },
        "configTypeDeclaration": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {"$ref": "#/$defs/simpleConfigType"},
                "items": {"$ref": "#/$defs/configItemsType"},
                "description": {"type": "string"},
                "secret": {"type": "boolean"},
                "default": {},
                "value": {},
            },
        },
    },
}


class _VErr:
    """jsonschema.ValidationError: instance location, message, causes (errors.go:70-92)."""

    def __init__(self, loc: str, msg: str, causes: list | None = None):
        self.loc, self.msg, self.causes = loc, msg, list(causes or [])

    def wrap_causes(self, err: _VErr) -> _VErr:  # errors.go ValidationError.causes
        if err.msg == "":
            self.causes = list(err.causes)
        else:
            self.causes.append(err)
        return self


def _json_type(v: Any) -> str:
    """schema.go:728-744 jsonType; time.Time panics -> InvalidJSONTypeError."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise PulumiConfigError(f"jsonschema: invalid jsonType: {_go_type_name(v)}")


def _json_equals(a: Any, b: Any) -> bool:
    """schema.go:747-786 equals."""
    ta, tb = _json_type(a), _json_type(b)
    if ta != tb:
        return False
    if ta == "array":
        return len(a) == len(b) and all(_json_equals(x, y) for x, y in zip(a, b, strict=True))
    if ta == "object":
        return a.keys() == b.keys() and all(_json_equals(a[k], b[k]) for k in a)
    return a == b


def _escape_ptr(token: str) -> str:
    """schema.go:789-793 escape: ~ -> ~0, / -> ~1, then url.PathEscape."""
    token = token.replace("~", "~0").replace("/", "~1")
    return _urlquote(token, safe="$&+:=@-_.~")


def _resolve_ref(ref: str) -> dict:
    return _PROJECT_SCHEMA["$defs"][ref.rsplit("/", 1)[1]]


def _schema_validate(s: dict, v: Any, vloc: str) -> _VErr | None:
    """schema.go:168-709 Schema.validate, for the keywords project.json uses, in the same order."""
    types = s.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        vt = _json_type(v)
        ok = any(
            vt == t
            or (t == "integer" and vt == "number" and (isinstance(v, int) or float(v).is_integer()))
            for t in types
        )
        if not ok:
            return _VErr(vloc, f"expected {' or '.join(types)}, but got {vt}")
    errors: list = []
    if "const" in s and not _json_equals(v, s["const"]):
        c = s["const"]
        errors.append(
            _VErr(
                vloc,
                "const failed"
                if _json_type(c) in ("object", "array")
                else f"value must be {_go_quote(c) if isinstance(c, str) else _go_fmt_v(c)}",
            )
        )
    if "enum" in s and not any(_json_equals(v, e) for e in s["enum"]):
        items = [_go_quote(e) for e in s["enum"]]  # compiler.go:311-321 (all our enums are strings)
        errors.append(
            _VErr(
                vloc,
                f"value must be {items[0]}"
                if len(items) == 1
                else f"value must be one of {', '.join(items)}",
            )
        )
    if isinstance(v, dict):
        missing = [f"'{p}'" for p in s.get("required", []) if p not in v]
        if missing:
            errors.append(_VErr(vloc, f"missing properties: {', '.join(missing)}"))
        props = s.get("properties", {})
        for pname, sch in props.items():  # Go iterates a map here: order between siblings is random
            if pname in v:
                err = _schema_validate(sch, v[pname], vloc + "/" + _escape_ptr(pname))
                if err:
                    errors.append(err)
        extra = [p for p in v if p not in props]
        add = s.get("additionalProperties")
        if add is False and extra:
            errors.append(
                _VErr(
                    vloc,
                    f"additionalProperties {', '.join(_quote_js(p) for p in extra)} not allowed",
                )
            )
        elif isinstance(add, dict):
            for p in extra:
                err = _schema_validate(add, v[p], vloc + "/" + _escape_ptr(p))
                if err:
                    errors.append(err)
    if isinstance(v, list) and "items" in s:
        for i, item in enumerate(v):
            err = _schema_validate(s["items"], item, f"{vloc}/{i}")
            if err:
                errors.append(err)
    if isinstance(v, str) and "minLength" in s and len(v) < s["minLength"]:
        errors.append(_VErr(vloc, f"length must be >= {s['minLength']}, but got {len(v)}"))
    if "$ref" in s:  # schema.go:552-565: same document, so the url printed is the fragment
        err = _schema_validate(_resolve_ref(s["$ref"]), v, vloc)
        if err:
            errors.append(_VErr(vloc, f"doesn't validate with '{s['$ref'][1:]}'").wrap_causes(err))
    if "oneOf" in s:  # schema.go:630-648
        matched, causes = -1, []
        for i, sch in enumerate(s["oneOf"]):
            err = _schema_validate(sch, v, vloc)
            if err is None:
                if matched == -1:
                    matched = i
                else:
                    errors.append(
                        _VErr(vloc, f"valid against schemas at indexes {matched} and {i}")
                    )
                    break
            else:
                causes.append(err)
        if matched == -1:
            errors.append(_VErr(vloc, "oneOf failed", causes))
    if (
        "if" in s and _schema_validate(s["if"], v, vloc) is None and "then" in s
    ):  # schema.go:651-670
        err = _schema_validate(s["then"], v, vloc)
        if err:
            errors.append(_VErr(vloc, "if-then failed", [err]))
    if not errors:
        return None
    if len(errors) == 1:
        return errors[0]
    return _VErr(vloc, "", errors)


def _quote_js(s: str) -> str:
    """jsonschema errors.go:135 quote(): single quotes, backslash escaped (and '"' dropped, as
    in Go)."""
    return (
        "'"
        + s.replace("\\", "\\\\").replace('"', "").replace("\n", "\\n").replace("\t", "\\t")
        + "'"
    )


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _find_closest_key(needle: str, haystack: Iterable[str], max_distance: int = 2) -> str:
    """project.go:659-689 findClosestKey (case-insensitive Levenshtein, ties -> alphabetical)."""
    match, closest = "", max_distance + 1
    for key in sorted(haystack):
        d = _levenshtein(needle.lower(), key.lower())
        if d == 0:
            return key
        if d < closest:
            closest, match = d, key
    return match


def _schema_path_attributes(path: str) -> dict | None:
    """project.go:694-758 getSchemaPathAttributes.  additionalProperties in project.json is never a
    map of schemas, so the walk stops (returns None) below a config key or package name."""
    curr = _PROJECT_SCHEMA
    for attr in path.split("/"):
        if attr == "":
            continue
        if "$ref" in curr:
            curr = _resolve_ref(curr["$ref"])
        if attr in curr.get("properties", {}):
            curr = curr["properties"][attr]
            continue
        if attr.isdigit() and "items" in curr:
            curr = curr["items"]
            continue
        return None
    if "$ref" in curr:
        curr = _resolve_ref(curr["$ref"])
    return dict(curr.get("properties", {}))


_NOT_ALLOWED = re.compile(r"'(\w[a-zA-Z0-9_]*)' not allowed$")


def _schema_messages(err: _VErr) -> list:
    """project.go:604-646: depth-first list of '#<location>: <message>' with typo hints."""
    out: list = []

    def walk(e: _VErr) -> None:
        if e.loc != "" and e.msg != "":
            msg = e.msg
            m = _NOT_ALLOWED.search(msg)
            if m:
                attrs = _schema_path_attributes(e.loc) or {}
                closest = _find_closest_key(m.group(1), attrs)
                if closest:
                    msg = f"{msg}; did you mean '{closest}'?"
                elif len(attrs) > 0:
                    valid = sorted(f"'{k}'" for k in attrs)
                    if len(valid) > 1:
                        allowed = f"{', '.join(valid[:-1])} and {valid[-1]}"
                        msg = f"{msg}; the allowed attributes are {allowed}"
                    else:
                        msg = f"{msg}; the only allowed attribute is {valid[0]}"
            out.append(f"#{e.loc}: {msg}")
        for c in e.causes:
            walk(c)

    walk(err)
    return out


def _multierror(points: list) -> str:
    """hashicorp/go-multierror v1.1.1 ListFormatFunc."""
    if len(points) == 1:
        return f"1 error occurred:\n\t* {points[0]}\n\n"
    return f"{len(points)} errors occurred:\n\t" + "\n\t".join(f"* {p}" for p in points) + "\n\n"


# --------------------------------------------------------------------------------------
# Config declarations (project.go:277-304, 760-889)
# --------------------------------------------------------------------------------------

_MISSING = object()


def _infer_full_type_name(type_name: str, items: dict | None) -> str:
    """project.go:760-766 InferFullTypeName: array<...> whenever items is set."""
    if items is not None:
        return f"array<{_infer_full_type_name(items.get('type', ''), items.get('items'))}>"
    return type_name


def _go_atoi(s: str) -> bool:
    """strconv.Atoi succeeds: optional sign, ASCII digits, int64 range."""
    return bool(re.fullmatch(r"[+-]?[0-9]+", s)) and _INT64_MIN <= int(s) <= _INT64_MAX


def _validate_config_value(type_name: str, items: dict | None, value: Any) -> bool:
    """project.go:771-831 ValidateConfigValue, on the Go value (yaml.v3 or encoding/json
    decoded)."""
    if type_name == _STRING:
        return isinstance(value, str)
    if type_name == _INTEGER:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if (
            isinstance(value, float)
            and not math.isnan(value)
            and (math.isinf(value) or value.is_integer())
        ):
            return True  # f == math.Trunc(f)
        if isinstance(value, str):
            return _go_atoi(value)
        return False
    if type_name == _BOOLEAN:
        return value in ("true", "false") if isinstance(value, str) else isinstance(value, bool)
    if type_name == _OBJECT:
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(_validate_config_value(items.get("type", ""), items.get("items"), x) for x in value)


def _is_namespaced_by_project(project_name: str, key: str) -> bool:
    """project.go:833-835 configKeyIsNamespacedByProject."""
    return ":" not in key or key.startswith(project_name + ":")


def _items_struct(raw: Any) -> dict | None:
    """Unmarshal into *ProjectConfigItemsType{Type string; Items *ProjectConfigItemsType}."""
    if raw is None:
        return None
    t = raw.get("type", "")
    if not isinstance(t, str):
        # the schema allows `type: {type: ...}` here, but the Go struct field is a string
        raise PulumiConfigError(
            "yaml: unmarshal errors:\n  line ?: cannot unmarshal !!map into string"
        )
    return {"type": t, "items": _items_struct(raw.get("items"))}


def _decl_struct(key: str, raw: Any) -> dict:
    """Unmarshal one config entry into ProjectConfigType (project.go:282-289)."""
    if not isinstance(raw, dict):
        tag = {bool: "!!bool", int: "!!int", float: "!!float", str: "!!str"}.get(
            type(raw), "!!null"
        )
        raise PulumiConfigError(
            f"yaml: unmarshal errors:\n  line ?: cannot unmarshal {tag} "
            f"`{_go_fmt_v(raw)}` into workspace.ProjectConfigType"
        )
    return {
        "type": raw.get("type"),  # *string: nil when absent
        "description": raw.get("description", ""),
        "items": _items_struct(raw.get("items")),
        # `default: null` / `value: null` decode to a nil `any`: treated as absent
        # (config.go:316-317)
        "default": _MISSING if raw.get("default") is None else raw["default"],
        "value": _MISSING if raw.get("value") is None else raw["value"],
        "secret": bool(raw.get("secret", False)),
    }


def validate_project(project_yaml: Any, path: str = "Pulumi.yaml") -> dict:
    """Apply the CLI's Pulumi.yaml rules (workspace.LoadProjectBytes, loaders.go:109-148).

    In order: every map key is a string and the file is a map; ``name`` is a non-empty string
    (with a typo hint, project.go:577-592); the project.json schema (declared types limited
    to string/integer/boolean/array/object, only type/items/description/secret/default/value
    in a declaration, ``items`` needs ``type`` and nested arrays need ``items``; shorthand
    values must be string/integer/boolean/array); ``config: <path>`` + ``stackConfigDir``
    conflict; shorthand ``key: value`` rewriting (project keys -> default, ``ns:key`` -> value);
    then Project.Validate (project.go:837-889): not both default and value; a typed array needs
    ``items``; a default must match its declared type; a key in another namespace (``aws:region``)
    may not have a type or a default and must have a ``value``.

    Returns the project as the CLI holds it: ``{"name", "stackConfigDir", "config": {key: decl}}``
    where each decl has type/description/items/default/value/secret (absent default/value are
    an internal sentinel).  Raises PulumiConfigError with the Go message; ``cli_text`` adds the
    "could not validate '<path>': " or "could not unmarshal '<path>': " wrapper.
    """
    raw = _to_go(project_yaml)
    # project.go:569-647 ValidateProject; loaders.go:116-119 wraps with "could not validate".
    try:
        project = _simplify_project(raw)
        if "name" not in project:
            closest = _find_closest_key("name", project)
            if closest:
                raise PulumiConfigError(
                    f"project is missing a 'name' attribute; found '{closest}' instead"
                )
            raise PulumiConfigError("project is missing a 'name' attribute")
        if not isinstance(project["name"], str) or project["name"] == "":
            raise PulumiConfigError("project is missing a non-empty string 'name' attribute")
        err = _schema_validate(_PROJECT_SCHEMA, project, "")
        if err is not None:
            root = _VErr("", "doesn't validate with blob://project.json").wrap_causes(err)
            raise PulumiConfigError(_multierror(_schema_messages(root)))
    except PulumiConfigError as e:
        raise PulumiConfigError(e.message, f"could not validate '{path}': {e.message}") from None

    # project.go:448-467 RewriteConfigPathIntoStackConfigDir
    config = project.get("config")
    if isinstance(config, str):
        if "stackConfigDir" in project:
            raise PulumiConfigError(
                "Should not use both config and stackConfigDir to define the stack directory. "
                "Use only stackConfigDir instead."
            )
        project["stackConfigDir"], config = config, None

    # project.go:486-517 RewriteShorthandConfigValues: string/int/bool/list only (not float,
    # not null)
    name = project["name"]
    decls: dict = {}
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(value, (str, bool, int, list)):  # isPrimitiveValue || isArray
                value = {"default" if _is_namespaced_by_project(name, key) else "value": value}
            decls[key] = value
    # loaders.go:133-136: marshal back to YAML and unmarshal into the Project struct
    try:
        decls = {k: _decl_struct(k, _yaml_roundtrip(v)) for k, v in decls.items()}
    except PulumiConfigError as e:
        raise PulumiConfigError(e.message, e.message) from None

    def fail(msg: str) -> None:  # loaders.go:141-144
        raise PulumiConfigError(msg, f"could not unmarshal '{path}': {msg}")

    # project.go:837-889 Project.Validate (Go ranges over a map: with several bad keys, which one
    # is reported is random in Go; here it is the first in file order)
    for key, d in decls.items():
        has_default, has_value = d["default"] is not _MISSING, d["value"] is not _MISSING
        if has_default and has_value:
            fail(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
        type_name = d["type"] or ""
        if _is_namespaced_by_project(name, key):
            if d["type"] is not None and type_name == _ARRAY and d["items"] is None:
                fail(
                    f"The configuration key '{key}' declares an array "
                    "but does not specify the underlying type via the 'items' attribute"
                )
            if (
                d["type"] is not None
                and has_default
                and not _validate_config_value(type_name, d["items"], d["default"])
            ):
                fail(
                    f"The default value specified for configuration key '{key}' is not of the "
                    "expected type "
                    f"'{_infer_full_type_name(type_name, d['items'])}'"
                )
        else:
            if d["type"] is not None:
                fail(
                    f"Configuration key '{key}' is not namespaced by the project and should not "
                    "define a type"
                )
            if has_default:
                fail(
                    f"Configuration key '{key}' is not namespaced by the project and "
                    "should not define a default value. "
                    "Did you mean to use the 'value' attribute instead of 'default'?"
                )
            if not has_value:
                fail(
                    f"Configuration key '{key}' is namespaced and must provide an attribute 'value'"
                )
    return {"name": name, "stackConfigDir": project.get("stackConfigDir"), "config": decls}


# --------------------------------------------------------------------------------------
# Stack config (pkg/workspace/config.go)
# --------------------------------------------------------------------------------------


def _parse_key(s: str) -> tuple:
    """config/key.go:45-70 ParseKey: 'ns:name' or legacy 'ns:config:name'."""
    parts = s.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return parts[0], parts[2]
    raise PulumiConfigError(
        f"could not parse {s} as a configuration key "
        "(configuration keys should be of the form `<namespace>:<name>`)"
    )


class _Value:
    """config.Value: the text the engine hands the program, plus secure/object flags
    (config/object.go:403-419 MarshalString, 467-527 unmarshalObject)."""

    def __init__(self, text: str, secure: bool, obj: bool):
        self.text, self.secure, self.object = text, secure, obj

    @classmethod
    def from_yaml(cls, v: Any) -> _Value:
        if isinstance(v, dict) and len(v) == 1 and isinstance(v.get("secure"), str):
            return cls(v["secure"], True, False)  # isSecureValue: whole value is a secret
        if isinstance(v, GoTime):
            return cls(v.go_string(), False, False)  # unmarshalObject: time.Time -> v.String()
        if isinstance(v, str):
            return cls(v, False, False)
        if isinstance(v, (bool, int, float)):
            return cls(_go_json(v), False, False)
        return cls(_go_json(_stack_object(v)), _contains_secure(v), True)  # map, list, null

    @classmethod
    def from_project(cls, v: Any) -> _Value:
        """config.go:179-193 createConfigValue (defaults and values from Pulumi.yaml)."""
        if isinstance(v, (str, bool, int)):  # isPrimitiveValue (config.go:170-177)
            return cls(_go_fmt_v(v), False, False)  # fmt.Sprintf("%v")
        return cls(_go_json(v), False, True)

    def public(self) -> Any:
        return {"secure": self.text} if self.secure and not self.object else self.text


def _stack_object(v: Any) -> Any:
    if isinstance(v, GoTime):
        return v.go_string()
    if isinstance(v, dict):
        return {k: _stack_object(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_stack_object(x) for x in v]
    return v


def _contains_secure(v: Any) -> bool:
    if isinstance(v, dict):
        if len(v) == 1 and isinstance(v.get("secure"), str):
            return True
        return any(_contains_secure(x) for x in v.values())
    if isinstance(v, list):
        return any(_contains_secure(x) for x in v)
    return False


def _format_missing_keys(keys: list) -> str:
    """config.go:30-51 formatMissingKeys."""
    if len(keys) == 1:
        return f"'{keys[0]}'"
    keys = sorted(keys)
    out = ""
    for i, k in enumerate(keys):
        if i == len(keys) - 1:
            out += f"and '{k}'"
        elif i == len(keys) - 2:
            out += f"'{k}' "
        else:
            out += f"'{k}', "
    return out


def _decrypt_object(v: Any, decrypt: Callable[[str], str]) -> Any:
    if isinstance(v, dict):
        if len(v) == 1 and isinstance(v.get("secure"), str):
            return decrypt(v["secure"])
        return {k: _decrypt_object(x, decrypt) for k, x in v.items()}
    if isinstance(v, list):
        return [_decrypt_object(x, decrypt) for x in v]
    return v


def validate_stack_config(
    project_yaml: Any,
    stack_yaml: Any,
    stack_name: str,
    decrypt: Callable[[str], str] | None = None,
) -> dict:
    """What ``pulumi up/preview`` checks before running: ValidateStackConfigAndApplyProjectConfig.

    ``project_yaml`` / ``stack_yaml`` are the parsed Pulumi.yaml and Pulumi.<stack>.yaml (use
    ``load_yaml`` to parse as the CLI does; ``None`` = empty stack file).  First applies
    ``validate_project``.  Then, as config.go:255-366 does: stack keys without a namespace get
    ``<project>:`` (loaders.go:61-89); for each declared key in sorted order, a key the stack does
    not set takes the declaration's ``value`` or ``default``; a project-namespaced key with
    neither, not set on the stack, is missing -> one error naming all missing keys (as declared,
    i.e. without the ``<project>:`` prefix).  Then each explicitly typed key, sorted: ``secret:
    true`` needs an encrypted (``secure:``) stack value, and the value must match the type
    (stack scalars are strings to the CLI: ``string`` takes any scalar, ``integer`` a string
    strconv.Atoi accepts, ``boolean`` "true"/"false"; lists and maps are JSON-decoded).

    Returns the effective config: ``{"<ns>:<key>": text}`` where text is the string the engine
    hands the program (objects and lists as Go JSON text), or ``{"secure": ciphertext}`` for an
    encrypted scalar.  Raises PulumiConfigError (``cli_text`` = "validating stack config: ...").
    ``decrypt`` (ciphertext -> plaintext) lets secret values be type-checked; without it, secret
    values skip the type check (the CLI decrypts them first).
    """
    project = validate_project(project_yaml)
    project_name = project["name"]

    def fail(msg: str) -> None:
        raise PulumiConfigError(msg, f"validating stack config: {msg}")

    # loaders.go:173-233 LoadProjectStackBytes
    stack_map: dict = {}
    if stack_yaml is not None:
        stack = _simplify_project(_to_go(stack_yaml))
        if stack.get("environment"):
            raise NotImplementedError(
                "Pulumi ESC environments are merged by the CLI (config.go:267-293); "
                "this re-implementation does not evaluate them"
            )
        cfg = stack.get("config")
        if cfg is not None and not isinstance(cfg, dict):
            # the CLI fails in yaml.v3 here; its exact text (with line numbers) is not reproduced
            raise PulumiConfigError("yaml: unmarshal errors: stack 'config' is not a map")
        for raw_key, raw_value in (cfg or {}).items():
            key = raw_key if ":" in raw_key else f"{project_name}:{raw_key}"  # loaders.go:72-80
            try:
                ns, name = _parse_key(key)
            except PulumiConfigError as e:
                raise PulumiConfigError(f"could not unmarshal map: {e.message}") from None
            stack_map[f"{ns}:{name}"] = (
                _Value.from_yaml(_yaml_roundtrip(raw_value)),
                _yaml_roundtrip(raw_value),
            )

    # config.go:159-168 parseConfigKey: keys declared without ':' live in the project namespace
    declared = []
    for decl_key in sorted(project["config"]):
        ns, name = _parse_key(decl_key) if ":" in decl_key else (project_name, decl_key)
        if "." in name or "[" in name:
            # Map.Get(key, path=true) treats these as property paths (map.go:150-182); not ported
            raise NotImplementedError(f"config key paths are not supported: {decl_key!r}")
        declared.append((decl_key, f"{ns}:{name}", ns, project["config"][decl_key]))

    # config.go:302-349 merge project values/defaults, collect missing keys
    missing = []
    for decl_key, full_key, ns, d in declared:
        found = full_key in stack_map
        has_default, has_value = d["default"] is not _MISSING, d["value"] is not _MISSING
        if not found and not has_value and not has_default and ns == project_name:
            missing.append(decl_key)
            continue
        if not found and (has_value or has_default):
            value = d["default"] if has_default else d["value"]  # default wins (config.go:329-335)
            stack_map[full_key] = (_Value.from_project(value), None)

    # config.go:351-355
    if missing:
        fail(
            f"Stack '{stack_name}' is missing configuration "
            f"{'values' if len(missing) > 1 else 'value'} "
            f"{_format_missing_keys(missing)}"
        )

    # config.go:66-157 validateStackConfigValues / validateStackConfigValue
    for decl_key, full_key, _, d in declared:
        if d["type"] is None:  # IsExplicitlyTyped (project.go:294-296)
            continue
        value, raw = stack_map.get(full_key, (_Value("", False, False), None))
        if d["secret"] and not value.secure:
            fail(
                f"Stack '{stack_name}' with configuration key '{decl_key}' must be encrypted as "
                "it's secret"
            )
        if value.secure:
            if decrypt is None:
                continue  # cannot decrypt here: the CLI would type-check the plaintext
            content = (
                _decrypt_object(_stack_object(raw), decrypt)
                if value.object
                else decrypt(value.text)
            )
        elif value.object:
            content = json.loads(value.text)
        else:
            content = value.text
        if not _validate_config_value(d["type"], d["items"], content):
            fail(
                f"Stack '{stack_name}' with configuration key '{decl_key}' must be of type "
                f"'{_infer_full_type_name(d['type'], d['items'])}'"
            )

    return {k: stack_map[k][0].public() for k in sorted(stack_map)}
