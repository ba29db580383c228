"""The multiwindow, multi-burn-rate alerts of the Google SRE Workbook ("Alerting on SLOs",
table 5-8), shared by the Prometheus rules (EKS, local) and the CloudWatch alarms (ECS).

A burn rate is the error ratio over a window divided by the error budget (1 - objective): at
1x the budget lasts exactly the SLO window. An alert fires when both its long and its short
window burn faster than ``factor``: the long window says enough budget went, the short one
that it is still going (so the alert resets soon after a recovery).
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = "page"
TICKET = "ticket"
MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass(frozen=True)
class BurnRateAlert:
    """One pair of windows: fires on ``severity`` when both burn faster than ``factor``."""

    severity: str
    factor: float
    long_s: int
    short_s: int

    @property
    def windows(self) -> tuple[int, int]:
        return (self.long_s, self.short_s)

    def budget_consumed(self, window_days: int) -> float:
        """Share of the SLO window's budget spent by the time the long window fires."""
        return self.factor * self.long_s / (window_days * DAY)


BURN_RATE_ALERTS: tuple[BurnRateAlert, ...] = (
    BurnRateAlert(PAGE, 14.4, HOUR, 5 * MINUTE),
    BurnRateAlert(PAGE, 6.0, 6 * HOUR, 30 * MINUTE),
    BurnRateAlert(TICKET, 3.0, DAY, 2 * HOUR),
    BurnRateAlert(TICKET, 1.0, 3 * DAY, 6 * HOUR),
)
SEVERITIES = (PAGE, TICKET)


def window_label(seconds: int) -> str:
    """``3d``, ``6h``, ``5m``: a window as Prometheus and the alarm names write it."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# The same pairs as Prometheus writes them: severity, burn rate, long window, short window.
BURN_RATE_PAIRS: tuple[tuple[str, float, str, str], ...] = tuple(
    (a.severity, a.factor, window_label(a.long_s), window_label(a.short_s))
    for a in BURN_RATE_ALERTS
)
# Every window an alert reads, shortest first (seconds).
WINDOW_SECONDS: tuple[int, ...] = tuple(sorted({s for a in BURN_RATE_ALERTS for s in a.windows}))


def alerts_of(severity: str) -> tuple[BurnRateAlert, ...]:
    """The burn-rate pairs that raise ``severity``."""
    return tuple(a for a in BURN_RATE_ALERTS if a.severity == severity)
