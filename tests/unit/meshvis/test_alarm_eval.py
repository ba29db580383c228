"""The local CloudWatch alarm evaluator against CloudWatch's documented behaviour, on hand-made
datapoint series, and against the alarms the program really registers."""

from __future__ import annotations

import pytest

from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_specs
from meshvis.local.alarm_eval import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    alarm_series,
    composite_state,
    evaluate,
    expression_series,
    metric_key,
    scaled,
    statistic,
    timeline,
    transitions,
)

RETAIN = "retain"
# "Configuring how CloudWatch alarms treat missing data", both tables, verbatim
# (awsdocs/amazon-cloudwatch-user-guide doc_source/AlarmThatSendsEmail.md @05fd32f6):
# data points oldest first (0 not breaching, X breaching, - missing), then the state for
# MISSING, IGNORE, BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
]
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
THRESHOLD = 3.0


def _points(text: str) -> list[float | None]:
    return [{"0": 1.0, "X": 5.0, "-": None}[c] for c in text.split()]


@pytest.mark.parametrize(
    ("m", "row"),
    [(3, row) for row in THREE_OF_THREE] + [(2, row) for row in TWO_OF_THREE],
    ids=lambda v: v if isinstance(v, int) else v[0],
)
@pytest.mark.parametrize("current", [OK, ALARM])
def test_the_documented_missing_data_tables(m, row, current):
    points, *expected = row
    for treatment, state in zip(TREATMENTS, expected, strict=True):
        got = evaluate(
            _points(points),
            threshold=THRESHOLD,
            comparison="GreaterThanThreshold",
            evaluation_periods=3,
            datapoints_to_alarm=m,
            treat_missing_data=treatment,
            current=current,
        )
        assert got == (current if state == RETAIN else state), (points, treatment)


def test_m_out_of_n_counts_breaching_points_that_need_not_be_consecutive():
    kwargs = {"threshold": 3.0, "comparison": "GreaterThanThreshold", "evaluation_periods": 5}
    assert evaluate(_points("0 0 X 0 X 0 X"), datapoints_to_alarm=3, **kwargs) == ALARM
    assert evaluate(_points("0 0 X 0 X 0 0"), datapoints_to_alarm=3, **kwargs) == OK
    # The threshold itself is not "greater than"; it is "greater than or equal".
    assert evaluate([3.0] * 5, datapoints_to_alarm=5, **kwargs) == OK
    kwargs["comparison"] = "GreaterThanOrEqualToThreshold"
    assert evaluate([3.0] * 5, datapoints_to_alarm=5, **kwargs) == ALARM


def test_statistics_and_percentiles():
    values = [(float(v), 1.0) for v in range(1, 101)]
    assert statistic(values, "Sum") == 5050
    assert statistic(values, "SampleCount") == 100
    assert statistic(values, "Average") == 50.5
    assert statistic(values, "Minimum") == 1 and statistic(values, "Maximum") == 100
    assert statistic(values, "p99") == 99
    assert statistic(values, "p50") == 50
    assert statistic(values, "p100") == 100
    # Percentile rank: the share of values in (low, high].
    assert statistic(values, "PR(0:25)") == 25.0
    assert statistic(values, "PR(:10)") == 10.0
    # A statsd sample rate of 0.5 weighs each value twice.
    assert statistic([(1.0, 2.0), (100.0, 1.0)], "p50") == 1.0
    assert statistic([(10.0, 2.0)], "Sum") == 20.0
    assert statistic([], "Sum") is None
    with pytest.raises(ValueError, match="TM99"):
        statistic(values, "TM99")


def test_metric_math_aligns_timestamps_and_fills():
    grid = [0.0, 60.0, 120.0]
    errors = {60.0: 2.0}
    requests = {0.0: 10.0, 60.0: 20.0, 120.0: 0.0}
    by_id = {"errors": errors, "requests": requests}
    # Without FILL, only the minute that has both.
    assert expression_series("100 * errors / requests", by_id, grid) == {60.0: 10.0}
    # FILL gives the other minutes a 0; dividing by 0 requests gives no point.
    assert expression_series("100 * FILL(errors, 0) / requests", by_id, grid) == {
        0.0: 0.0,
        60.0: 10.0,
    }
    assert expression_series("FILL(errors, REPEAT)", {"errors": {0.0: 1.0}}, grid) == {
        0.0: 1.0,
        60.0: 1.0,
        120.0: 1.0,
    }
    assert expression_series("FILL(e, LINEAR)", {"e": {0.0: 0.0, 120.0: 4.0}}, grid) == {
        0.0: 0.0,
        60.0: 2.0,
        120.0: 4.0,
    }
    assert expression_series(
        "SUM([a, b])", {"a": {0.0: 1.0}, "b": {0.0: 2.0, 60.0: 3.0}}, grid
    ) == {
        0.0: 3.0,
        60.0: 3.0,
    }
    with pytest.raises(ValueError, match="nope"):
        expression_series("nope * 2", by_id, grid)
    with pytest.raises(ValueError, match="ANOMALY_DETECTION_BAND"):
        expression_series("ANOMALY_DETECTION_BAND(errors)", by_id, grid)


def _dev_alarm(suffix: str) -> dict:
    # The threshold alarms are those of services without an SLO.
    settings = stack_settings("dev").model_copy(update={"slo": None})
    return next(a for a in alarm_specs(settings) if a["name"] == f"name-{suffix}")


def _samples_of(spec: dict, query_id: str, samples: list) -> dict:
    metric = next(q["metric"] for q in spec["metric_queries"] if q["id"] == query_id)
    return {metric_key(metric["metric_name"], metric["dimensions"]): samples}


def test_the_registered_5xx_alarm_over_a_failing_then_healing_minute_series():
    spec = _dev_alarm("5xx-rate")
    # 10 requests a minute for 12 minutes (one request-time sample each, 20 ms); minutes 3..7
    # answer 5 of them 5xx (50 %); the 5xx counter only exists from its first use, as Envoy
    # sends it.
    requests = [(m * 60 + 5.0, 20.0, 1.0) for m in range(12) for _ in range(10)]
    errors = [(m * 60 + 6.0, 5.0 if 3 <= m <= 7 else 0.0, 1.0) for m in range(3, 12)]
    samples = {**_samples_of(spec, "requests", requests), **_samples_of(spec, "errors", errors)}
    series = alarm_series(spec, samples, [m * 60.0 for m in range(12)])
    assert series[0.0] == 0.0 and series[180.0] == 50.0 and series[480.0] == 0.0
    states = transitions((at, state) for at, state, _ in timeline(spec, samples, 0, 720))
    # Evaluated every minute: the third bad minute (ending at 6 min) fires it; it clears once
    # fewer than 3 of the last 5 are bad (minutes 6 to 10, evaluated at 11 min).
    assert states == [(0.0, OK), (360.0, ALARM), (660.0, OK)]


def test_the_registered_p99_alarm_and_a_time_scale():
    spec = scaled(_dev_alarm("p99-latency"), 6)
    assert spec["period"] == 10
    key = metric_key(spec["metric_name"], spec["dimensions"])
    # Every 10 s period: 99 fast requests; periods 3..6 also 2 slow ones (2 % above 1 s).
    samples = [(p * 10 + 1.0, 5.0, 1.0) for p in range(12) for _ in range(99)]
    samples += [(p * 10 + 2.0, 2500.0, 1.0) for p in range(3, 7) for _ in range(2)]
    # In time order, as the receiver keeps them.
    samples.sort()
    states = transitions((at, s) for at, s, _ in timeline(spec, {key: samples}, 0, 120))
    assert states == [(0.0, OK), (60.0, ALARM), (100.0, OK)]
    # No traffic at all: not breaching (a service without traffic is not failing).
    assert {s for _, s, _ in timeline(spec, {}, 0, 120)} == {OK}


def test_a_long_period_slides_with_each_evaluation():
    """A 10-minute period evaluated every minute: each evaluation reads the 10 minutes that end
    at it (the default sliding window), so a burst is seen the minute after it, not at the
    next multiple of 10 minutes."""
    spec = {
        "metric_name": "m",
        "dimensions": {},
        "period": 600,
        "statistic": "Sum",
        "evaluation_periods": 1,
        "threshold": 5,
        "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "notBreaching",
    }
    # A counter sent every minute (as Envoy does once used), 10 at 10:10, else 0.
    samples = {
        metric_key("m", {}): [(m * 60.0 + 10, 10.0 if m == 10 else 0.0, 1.0) for m in range(30)]
    }
    states = transitions((at, s) for at, s, _ in timeline(spec, samples, 0, 1800, every=60))
    assert states == [(0.0, OK), (660.0, ALARM), (1260.0, OK)]


def test_composite_alarm_rules():
    states = {"a": ALARM, "b": OK, "c d": INSUFFICIENT_DATA}
    assert composite_state("ALARM(a) AND OK(b)", states) == ALARM
    assert composite_state('ALARM(a) AND ALARM("b")', states) == OK
    assert composite_state("ALARM(b) OR ALARM(a) AND NOT OK(a)", states) == ALARM
    assert composite_state("(ALARM(b) OR ALARM(a)) AND NOT ALARM(a)", states) == OK
    assert composite_state('INSUFFICIENT_DATA("c d") AND TRUE', states) == ALARM
    with pytest.raises(ValueError, match="zzz"):
        composite_state("ALARM(zzz)", states)
    with pytest.raises(ValueError, match="unbalanced"):
        composite_state("(ALARM(a)", states)
