"""The live view of a local run: a table of golden signals per service, the alerts pending
and firing for each (Prometheus' /api/v1/alerts, one request per refresh) and a progress bar.

On a terminal it redraws in place (rich ``Live``); when stdout is a pipe or a file it prints
plain lines every ``PLAIN_EVERY`` seconds instead, so logs and CI output stay readable.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from meshvis.local.golden_signals import COLUMNS, WINDOW, Values
from meshvis.local.live_alerts import (
    LiveAlert,
    alert_cell,
    alert_text,
    by_service,
    firing_delays,
    firing_lines,
    live_alerts,
)
from meshvis.local.prometheus import Prometheus
from meshvis.local.summary import ABSENT, health_lines, health_text

PLAIN_EVERY = 10.0


def _cell(values: dict[str, float], key: str) -> str:
    if key not in values:
        return ABSENT
    value = values[key]
    if key == "healthy_upstream_hosts" and values.get("sidecars_up", 0) > 1:
        # The sum over the service's sidecars: each sidecar's own view beside it, so two
        # replicas that each see 4 hosts read "8 (4 each)", not 8 hosts.
        each = value / values["sidecars_up"]
        return f"{value:.0f} ({each:.3g} each)"
    return (
        f"{value:.0f}"
        if key in ("active_connections", "healthy_upstream_hosts", "sidecars_up")
        else f"{value:.2f}"
        if key == "success_pct"
        else f"{value:.1f}"
    )


class LiveView:
    """Shows the latest values; a context manager around the run's main loop."""

    def __init__(
        self,
        console: Console,
        services: list[str],
        caption: str,
        duration: float | None,
        prometheus: Prometheus | None = None,
    ) -> None:
        """``services`` in table order; ``caption`` says what runs (replicas, load, entry);
        ``prometheus``: whose alerts to show (asked once per ``update``), if any."""
        self.console = console
        self.prometheus = prometheus
        self._delays = firing_delays(prometheus.rules) if prometheus else {}
        self._alerts: list[LiveAlert] = []
        self._firing: list[str] = []
        self._now = time.time()
        self.services = services
        self.caption = caption
        self.duration = duration
        self.interactive = console.is_terminal
        self._last_plain = -PLAIN_EVERY
        self._values: Values = {}
        self._health: dict[str, dict] = {}
        self._notes: list[str] = []
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s") if duration else TextColumn(""),
            TimeElapsedColumn(),
            TimeRemainingColumn() if duration else TextColumn(""),
            console=console,
        )
        self._task = self._progress.add_task(
            "running" if duration else "running until Ctrl-C", total=duration
        )
        self._live: Live | None = None

    def table(self) -> Table:
        table = Table(
            title=f"golden signals per service (Prometheus, {WINDOW} window)",
            title_justify="left",
            caption=self.caption,
            caption_justify="left",
        )
        table.add_column("service", no_wrap=True)
        table.add_column("health", no_wrap=True)
        for column in COLUMNS:
            table.add_column(column.header, justify="right")
        alerts = by_service(self._alerts)
        if self.prometheus:
            table.add_column("alerts")
        for name in self.services:
            health = self._health.get(name)
            table.add_row(
                name,
                health_text(health),
                *(_cell(self._row(name), c.key) for c in COLUMNS),
                *([alert_cell(alerts.get(name, []), self._now)] if self.prometheus else []),
                style="red" if health and health["state"] == "down" else None,
            )
        return table

    def _row(self, name: str) -> dict[str, float]:
        """``name``'s figures; none but the scrape count while no sidecar of it answers (a
        rate over the window would still show the minutes before it stopped: "100 %")."""
        row = self._values.get(name, {})
        return {"sidecars_up": 0} if row.get("sidecars_up") == 0 else row

    def _view(self) -> Group:
        return Group(
            self.table(),
            *(Text(line, style="red") for line in health_lines(self._health)),
            *(Text(line, style=style) for line, style in firing_lines(self._alerts)),
            *(Text(line) for line in self._notes),
            self._progress,
        )

    def update(
        self,
        values: Values,
        elapsed: float,
        notes: list[str] | None = None,
        health: dict[str, dict] | None = None,
    ) -> None:
        """Show ``values``, each app service's ``health`` (None keeps the last) and, under
        the table, ``notes`` (None keeps the last ones; a terminal that is not interactive
        prints them when they change)."""
        self._values = values
        if health is not None:
            self._health = health
        self._now = time.time()
        self._poll_alerts(elapsed)
        self._progress.update(self._task, completed=min(elapsed, self.duration or elapsed))
        if notes is not None and notes != self._notes:
            self._notes = notes
            if self._live is None:
                for line in notes:
                    self.console.print(f"[{elapsed:5.0f}s] {line}", highlight=False, soft_wrap=True)
        if self._live is not None:
            self._live.update(self._view())
        elif values and elapsed - self._last_plain >= PLAIN_EVERY:
            self._last_plain = elapsed
            for name in self.services:
                row = self._row(name)
                cells = "  ".join(f"{c.header} {_cell(row, c.key)}" for c in COLUMNS)
                alerts = alert_text(by_service(self._alerts).get(name, []), self._now)
                if alerts:
                    cells += f"  alerts {alerts}"
                verdict = self._health.get(name)
                state = ""
                if verdict:
                    why = "; ".join(verdict["reasons"])
                    state = f"{verdict['state']}{f' ({why})' if why else ''}  "
                self.console.print(
                    f"[{elapsed:5.0f}s] {name}: {state}{cells}",
                    highlight=False,
                    soft_wrap=True,
                )

    def _poll_alerts(self, elapsed: float) -> None:
        """Prometheus' alerts now (on no answer the last ones: the runner's own queries judge
        whether Prometheus is slow or hung); plain output prints each alert that starts or
        stops firing."""
        if self.prometheus is None:
            return
        try:
            self._alerts = live_alerts(self.prometheus.alerts(), self._delays)
        except (OSError, RuntimeError):
            return
        firing = [line for line, _ in firing_lines(self._alerts)]
        if self._live is None:
            changes = [line for line in firing if line not in self._firing] + [
                "resolved: " + line.removeprefix("firing: ")
                for line in self._firing
                if line not in firing
            ]
            for line in changes:
                self.console.print(f"[{elapsed:5.0f}s] {line}", highlight=False, soft_wrap=True)
        self._firing = firing

    def __enter__(self) -> LiveView:
        if not self.interactive:
            # The terminal shows it under the table; plain output says it once, first.
            self.console.print(self.caption, highlight=False, soft_wrap=True)
        if self.interactive:
            self._live = Live(
                self._view(), console=self.console, refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, trace)
            self._live = None
