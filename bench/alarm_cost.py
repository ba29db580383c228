"""What an ecs stack's CloudWatch alarms cost a month, per service, at list prices.

    .venv/bin/python -m bench.alarm_cost [--stack dev]

Counts the alarms the program registers (dashboards/cloudwatch: threshold and no-healthy-hosts
alarms, SLO burn-rate alarms, page and ticket composites) and prices each at CloudWatch's
us-east-1 list prices (dashboards/cloudwatch/prices.py): a standard-resolution alarm per metric
it reads, a composite per alarm. No traffic is needed: alarms cost the same whatever flows.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from components.stack import stack_settings
from dashboards.cloudwatch.alarms import alarm_specs
from dashboards.cloudwatch.prices import (
    COMPOSITE_ALARM_USD,
    alarm_metrics,
    metric_alarm_monthly_usd,
)
from dashboards.cloudwatch.slo import composite_alarm_specs, slo_alarm_specs

SLO_BUDGET_USD = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args()
    settings = stack_settings(args.stack)
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for spec in slo_alarm_specs(settings):
        row = rows[spec["tags"]["service"]]
        row["slo alarms"] += 1
        row["slo metrics"] += len(alarm_metrics(spec))
        row["slo usd"] += metric_alarm_monthly_usd(spec)
    for spec in composite_alarm_specs(settings, topic_arn=""):
        row = rows[spec["tags"]["service"]]
        row["composites"] += 1
        row["slo usd"] += COMPOSITE_ALARM_USD
    for spec in alarm_specs(settings):
        rows[spec["tags"]["service"]]["other usd"] += metric_alarm_monthly_usd(spec)

    print(f"stack {args.stack}: CloudWatch alarms, USD per month (us-east-1 list prices)")
    header = ("service", "slo alarms", "metrics", "composites", "slo usd", "other usd")
    print(f"{header[0]:<16}" + "".join(f"{h:>12}" for h in header[1:]))
    for service, row in rows.items():
        print(
            f"{service:<16}{row['slo alarms']:>12.0f}{row['slo metrics']:>12.0f}"
            f"{row['composites']:>12.0f}{row['slo usd']:>12.2f}{row['other usd']:>12.2f}"
        )
    slo_total = sum(r["slo usd"] for r in rows.values())
    other_total = sum(r["other usd"] for r in rows.values())
    print(f"{'total':<52}{slo_total:>12.2f}{other_total:>12.2f}")
    worst = max((r["slo usd"] for r in rows.values()), default=0.0)
    verdict = "within" if worst <= SLO_BUDGET_USD else "OVER"
    print(
        f"SLO alarms per service at most ${worst:.2f}: {verdict} the ${SLO_BUDGET_USD:.2f} budget"
    )


if __name__ == "__main__":
    main()
