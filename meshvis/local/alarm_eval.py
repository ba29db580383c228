"""CloudWatch alarms evaluated locally, by their own definitions (pure).

The input is what the program registers (``aws.cloudwatch.MetricAlarm`` keyword arguments, as
``dashboards/cloudwatch/alarms.py`` builds them) and the samples the CloudWatch agent would
have published (meshvis/local/cloudwatch_agent.py keeps them); the output is the alarm's
state at each evaluation, with CloudWatch's documented semantics:

- each period's datapoint is the alarm's statistic (``Sum``, ``Average``, ``Minimum``,
  ``Maximum``, ``SampleCount``, ``pNN``, ``PR(low:high)``) over the samples of that period,
  or the value of its metric-math expression (``return_data``), with ``FILL``;
- "M out of N": ``datapoints_to_alarm`` breaching among the ``evaluation_periods`` datapoints;
- missing data: CloudWatch retrieves more datapoints than N (the *evaluation range*; N + 2 in
  the documentation's own tables) and fills missing ones with ``treat_missing_data`` only when
  fewer than N exist ("Configuring how CloudWatch alarms treat missing data", Amazon CloudWatch
  User Guide, awsdocs/amazon-cloudwatch-user-guide doc_source/AlarmThatSendsEmail.md
  @05fd32f6: both of its tables are tests/unit/meshvis/test_alarm_eval.py);
- composite alarms: ``ALARM(x)``, ``OK(x)``, ``INSUFFICIENT_DATA(x)``, ``AND``, ``OR``,
  ``NOT``, ``TRUE``, ``FALSE`` and parentheses over other alarms' states.

Samples are ``(unix time, value, weight)``: a counter increment or one timing value, weighted
by statsd's ``1/sample_rate``. Each evaluation reads the periods that end at it (CloudWatch's
default sliding evaluation window).
"""

from __future__ import annotations

import ast
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

Sample = tuple[float, float, float]
MetricKey = tuple[str, tuple[tuple[str, str], ...]]
# A time series: period start -> value.
Series = dict[float, float]
# A metric math value: a scalar, or a series.
Value = float | Series
# What the evaluator reads: a metric (name, sorted dimension pairs) -> its samples.
Samples = Mapping[MetricKey, Sequence[Sample]]

# How many datapoints beyond N CloudWatch retrieves (the documentation's tables: N=3, 5 points).
EXTRA_RANGE = 2

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def metric_key(metric_name: str, dimensions: Mapping[str, str]) -> MetricKey:
    """The key of a metric in ``Samples``: its name and sorted dimension pairs."""
    return metric_name, tuple(sorted(dimensions.items()))


_SIMPLE: dict[str, Callable[[Sequence[tuple[float, float]], float], float]] = {
    "Sum": lambda values, _: sum(v * w for v, w in values),
    "SampleCount": lambda _, count: count,
    "Average": lambda values, count: sum(v * w for v, w in values) / count,
    "Minimum": lambda values, _: min(v for v, _ in values),
    "Maximum": lambda values, _: max(v for v, _ in values),
}


def _percentile(values: Sequence[tuple[float, float]], count: float, percent: float) -> float:
    """Nearest rank over weighted values."""
    seen = 0.0
    for value, weight in sorted(values):
        seen += weight
        if seen >= percent / 100 * count:
            return value
    return max(v for v, _ in values)


def _rank(values: Sequence[tuple[float, float]], count: float, low: str, high: str) -> float:
    """The percentage of values in (low, high], a missing bound being open."""
    lower = float(low) if low else -math.inf
    upper = float(high) if high else math.inf
    return 100.0 * sum(w for v, w in values if lower < v <= upper) / count


def statistic(values: Sequence[tuple[float, float]], stat: str) -> float | None:
    """``stat`` over ``(value, weight)`` pairs of one period; None when there are none.

    Percentiles are nearest-rank over the weighted values (the agent publishes values and
    counts, from which CloudWatch answers percentiles); ``PR(low:high)`` is the percentage of
    values in (low, high], either bound optional, as CloudWatch's percentile rank.
    """
    if not values:
        return None
    count = sum(w for _, w in values)
    if stat in _SIMPLE:
        return _SIMPLE[stat](values, count)
    if match := re.fullmatch(r"p(\d+(?:\.\d+)?)", stat):
        return _percentile(values, count, float(match.group(1)))
    if match := re.fullmatch(r"PR\(([\d.]*):([\d.]*)\)", stat):
        return _rank(values, count, match.group(1), match.group(2))
    raise ValueError(f"statistic {stat!r} is not one the local evaluator knows")


def metric_series(
    samples: Sequence[Sample], stat: str, period: float, starts: Sequence[float]
) -> Series:
    """The statistic over each window ``[start, start + period)`` of ``starts`` that has
    samples (``samples`` in time order)."""
    times = [t for t, _, _ in samples]
    series: Series = {}
    for start in starts:
        low, high = bisect_left(times, start), bisect_left(times, start + period)
        value = statistic([(v, w) for _, v, w in samples[low:high]], stat)
        if value is not None:
            series[start] = value
    return series


def expression_series(
    expression: str, by_id: Mapping[str, Series], grid: Sequence[float]
) -> Series:
    """A metric-math expression over the other queries' series.

    Arithmetic between two series keeps the timestamps both have (a period missing from one
    has no result); with a number it applies to every point; division by zero gives no point.
    ``FILL(m, v)`` gives every period of ``grid`` a value (``v``, ``REPEAT`` or ``LINEAR``);
    ``SUM``, ``AVG``, ``MIN``, ``MAX`` of a list of series aggregate per timestamp; ``ABS``.
    """
    tree = ast.parse(expression.strip(), mode="eval")
    value = _evaluate(tree.body, by_id, grid)
    if isinstance(value, dict):
        return value
    return dict.fromkeys(grid, float(value))


def _evaluate(node: ast.AST, by_id: Mapping[str, Series], grid: Sequence[float]) -> Value:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in by_id:
            raise ValueError(f"metric math names {node.id!r}, which no query defines")
        return by_id[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _apply(lambda a, _: -a, _evaluate(node.operand, by_id, grid), 0.0)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left = _evaluate(node.left, by_id, grid)
        right = _evaluate(node.right, by_id, grid)
        return _apply(_OPERATORS[type(node.op)], left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node.func.id.upper(), node.args, by_id, grid)
    raise ValueError(f"metric math {ast.unparse(node)!r} is beyond the local evaluator")


def _divide(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


_OPERATORS: dict[type, Callable[[float, float], float | None]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _divide,
}


def _apply(operator: Callable[[float, float], float | None], left: Value, right: Value) -> Value:
    if not isinstance(left, dict):
        if not isinstance(right, dict):
            value = operator(left, right)
            if value is None:
                raise ValueError("metric math divides a constant by zero")
            return value
        pairs = {t: (left, v) for t, v in right.items()}
    elif isinstance(right, dict):
        pairs = {t: (left[t], right[t]) for t in left if t in right}
    else:
        pairs = {t: (v, right) for t, v in left.items()}
    out = {t: operator(a, b) for t, (a, b) in pairs.items()}
    return {t: v for t, v in out.items() if v is not None}


def _call(
    name: str, args: Sequence[ast.expr], by_id: Mapping[str, Series], grid: Sequence[float]
) -> Value:
    if name == "FILL":
        series = _evaluate(args[0], by_id, grid)
        if not isinstance(series, dict):
            raise ValueError("metric math FILL needs a series, not a constant")
        how = args[1]
        if isinstance(how, ast.Name) and how.id in ("REPEAT", "LINEAR"):
            return _fill(series, how.id, grid)
        default = _evaluate(how, by_id, grid)
        if isinstance(default, dict):
            raise ValueError("metric math FILL fills with a constant, REPEAT or LINEAR")
        return {t: series.get(t, default) for t in grid}
    if name == "ABS":
        return _apply(lambda a, _: abs(a), _evaluate(args[0], by_id, grid), 0.0)
    if name in _AGGREGATES and len(args) == 1 and isinstance(args[0], ast.List):
        members = [_evaluate(a, by_id, grid) for a in args[0].elts]
        times = sorted({t for m in members if isinstance(m, dict) for t in m})
        return {
            t: _AGGREGATES[name](
                [
                    m[t] if isinstance(m, dict) else m
                    for m in members
                    if not isinstance(m, dict) or t in m
                ]
            )
            for t in times
        }
    raise ValueError(f"metric math function {name} is beyond the local evaluator")


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "MIN": min,
    "MAX": max,
}


def _fill(series: Series, how: str, grid: Sequence[float]) -> Series:
    known = sorted(series)
    filled: Series = {}
    for t in grid:
        if t in series:
            filled[t] = series[t]
            continue
        before = [k for k in known if k < t]
        after = [k for k in known if k > t]
        if how == "REPEAT" and before:
            filled[t] = series[before[-1]]
        elif how == "LINEAR" and before and after:
            a, b = before[-1], after[0]
            filled[t] = series[a] + (series[b] - series[a]) * (t - a) / (b - a)
    return filled


def alarm_period(spec: Mapping) -> float:
    """The alarm's period in seconds (its metric's, or its queries' shared one)."""
    if "period" in spec:
        return float(spec["period"])
    found = {q["metric"]["period"] for q in spec["metric_queries"] if "metric" in q}
    if len(found) != 1:
        raise ValueError(f"an alarm's metrics must share one period, not {sorted(found)}")
    return float(found.pop())


def alarm_series(spec: Mapping, samples: Samples, starts: Sequence[float]) -> Series:
    """The datapoints the alarm compares with its threshold: one per window of its period
    starting at each of ``starts`` (samples of each metric in time order)."""
    period = alarm_period(spec)
    if "metric_queries" not in spec:
        stat = spec.get("extended_statistic") or spec["statistic"]
        key = metric_key(spec["metric_name"], spec.get("dimensions", {}))
        return metric_series(samples.get(key, ()), stat, period, starts)
    by_id: dict[str, Series] = {}
    returned: Series | None = None
    # Queries may only refer to queries before them in CloudWatch's own order of definition.
    for query in spec["metric_queries"]:
        if "metric" in query:
            metric = query["metric"]
            key = metric_key(metric["metric_name"], metric.get("dimensions", {}))
            series = metric_series(samples.get(key, ()), metric["stat"], period, starts)
        else:
            series = expression_series(query["expression"], by_id, starts)
        by_id[query["id"]] = series
        if query.get("return_data"):
            returned = series
    if returned is None:
        raise ValueError("no metric query of the alarm has return_data")
    return returned


def evaluate(
    points: Sequence[float | None],
    *,
    threshold: float,
    comparison: str,
    evaluation_periods: int,
    datapoints_to_alarm: int | None = None,
    treat_missing_data: str = "missing",
    current: str = INSUFFICIENT_DATA,
) -> str:
    """The alarm's state from the datapoints of its evaluation range, oldest first (None:
    missing), as the documentation's tables have it.

    With at least N datapoints, the newest N decide. With fewer, missing ones are filled as
    few times as possible: as breaching or not breaching, or (``missing``, ``ignore``) not at
    all: then the existing ones decide if they can (M breaching: ALARM; one not breaching:
    OK), else the alarm has insufficient data (``ignore``: keeps its state), except that a
    breaching oldest datapoint with nothing newer but missing ones keeps ALARM.
    """
    n = evaluation_periods
    m = datapoints_to_alarm or n
    compare = _COMPARE[comparison]
    existing = [compare(p, threshold) for p in points if p is not None]
    if len(existing) >= n:
        return ALARM if sum(existing[-n:]) >= m else OK
    fill = n - len(existing)
    if treat_missing_data in ("breaching", "notBreaching"):
        filled = fill if treat_missing_data == "breaching" else 0
        return ALARM if sum(existing) + filled >= m else OK
    if sum(existing) >= m:
        return ALARM
    if not all(existing):
        return OK
    return _undecided(points, treat_missing_data, current)


def _undecided(points: Sequence[float | None], treat_missing_data: str, current: str) -> str:
    """The state when the existing datapoints, all breaching but fewer than M, decide nothing
    and missing ones are not filled (``missing``, ``ignore``)."""
    if treat_missing_data == "ignore":
        return current
    if points[0] is not None and all(p is None for p in points[1:]):
        # The documentation's sixth row: "X - - - -" stays in ALARM.
        return ALARM
    return INSUFFICIENT_DATA


def evaluation_times(start: float, end: float, every: float) -> list[float]:
    """The times from ``start`` to ``end`` at which an alarm evaluated every ``every`` seconds
    runs (multiples of ``every``)."""
    first = math.ceil(start / every) * every
    return [first + i * every for i in range(max(0, int((end - first) // every) + 1))]


def timeline(
    spec: Mapping, samples: Samples, start: float, end: float, every: float | None = None
) -> list[tuple[float, str, float | None]]:
    """(time, state, newest datapoint) at each evaluation from ``start`` to ``end``.

    CloudWatch evaluates an alarm every minute (``every``; a shorter period: every period)
    over a sliding window, its default ``EvaluationWindow``: each evaluation's datapoints are
    the periods ending at that evaluation ("Alarm evaluation window", CloudWatch User Guide).
    A time-scaled game day evaluates every minute divided by its scale.
    """
    period = alarm_period(spec)
    every = every or min(period, 60.0)
    n = int(spec["evaluation_periods"])
    size = n + EXTRA_RANGE
    state = INSUFFICIENT_DATA
    out = []
    for at in evaluation_times(start, end, every):
        starts = [at - (size - i) * period for i in range(size)]
        series = alarm_series(spec, samples, starts)
        points = [series.get(s) for s in starts]
        state = evaluate(
            points,
            threshold=float(spec["threshold"]),
            comparison=spec["comparison_operator"],
            evaluation_periods=n,
            datapoints_to_alarm=spec.get("datapoints_to_alarm"),
            treat_missing_data=spec.get("treat_missing_data", "missing"),
            current=state,
        )
        out.append((at, state, points[-1]))
    return out


def scaled(spec: Mapping, scale: float) -> dict:
    """The alarm with every period divided by ``scale`` (a game day's time scale); its logic,
    thresholds and M of N unchanged."""
    out = dict(spec)
    if "period" in out:
        out["period"] = spec["period"] / scale
    if "metric_queries" in out:
        out["metric_queries"] = [
            {**q, "metric": {**q["metric"], "period": q["metric"]["period"] / scale}}
            if "metric" in q
            else dict(q)
            for q in spec["metric_queries"]
        ]
    return out


_RULE_TOKENS = re.compile(
    r'\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:"(?P<quoted>[^"]+)"|(?P<bare>[^)\s]+))\s*\)'
    r"|(?P<word>AND|OR|NOT|TRUE|FALSE)\b|(?P<paren>[()]))"
)


def composite_state(rule: str, states: Mapping[str, str]) -> str:
    """A composite alarm's state: ALARM when its ``AlarmRule`` holds over ``states`` (alarm
    name -> state), else OK. ``NOT`` binds tighter than ``AND``, ``AND`` than ``OR``."""
    tokens: list[bool | str] = []
    position = 0
    while position < len(rule.rstrip()):
        match = _RULE_TOKENS.match(rule, position)
        if not match:
            raise ValueError(f"alarm rule {rule!r}: cannot read from {rule[position:]!r}")
        position = match.end()
        if match["fn"]:
            name = match["quoted"] or match["bare"]
            if name not in states:
                raise ValueError(f"alarm rule {rule!r} names {name!r}, an alarm with no state")
            tokens.append(states[name] == match["fn"])
        else:
            tokens.append(match["word"] or match["paren"])
    value, rest = _or(tokens)
    if rest:
        raise ValueError(f"alarm rule {rule!r}: unexpected {rest[0]!r}")
    return ALARM if value else OK


def _chain(
    tokens: list,
    word: str,
    operand: Callable[[list], tuple[bool, list]],
    combine: Callable[[bool, bool], bool],
) -> tuple[bool, list]:
    """``operand (word operand)*``, folded with ``combine``; the tokens left after it."""
    value, tokens = operand(tokens)
    while tokens and tokens[0] == word:
        right, tokens = operand(tokens[1:])
        value = combine(value, right)
    return value, tokens


def _and(tokens: list) -> tuple[bool, list]:
    return _chain(tokens, "AND", _not, lambda a, b: a and b)


def _or(tokens: list) -> tuple[bool, list]:
    return _chain(tokens, "OR", _and, lambda a, b: a or b)


def _not(tokens: list) -> tuple[bool, list]:
    if not tokens:
        raise ValueError("alarm rule ends early")
    head, rest = tokens[0], tokens[1:]
    if head == "NOT":
        value, rest = _not(rest)
        return not value, rest
    if head == "(":
        value, rest = _or(rest)
        if not rest or rest[0] != ")":
            raise ValueError("alarm rule: unbalanced parentheses")
        return value, rest[1:]
    if isinstance(head, bool):
        return head, rest
    if head in ("TRUE", "FALSE"):
        return head == "TRUE", rest
    raise ValueError(f"alarm rule: unexpected {head!r}")


def transitions(states: Iterable[tuple[float, str]]) -> list[tuple[float, str]]:
    """The (time, state) points where the state changes, the first one included."""
    out: list[tuple[float, str]] = []
    for at, state in states:
        if not out or out[-1][1] != state:
            out.append((at, state))
    return out
