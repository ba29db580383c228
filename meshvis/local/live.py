"""The live view of a local run: a table of golden signals per service and a progress bar.

On a terminal it redraws in place (rich ``Live``); when stdout is a pipe or a file it prints
plain lines every ``PLAIN_EVERY`` seconds instead, so logs and CI output stay readable.
"""

from __future__ import annotations

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

from meshvis.local.signals import COLUMNS, WINDOW, Values

PLAIN_EVERY = 10.0


def _cell(values: dict[str, float], key: str) -> str:
    if key not in values:
        return "-"
    value = values[key]
    return (
        f"{value:.0f}"
        if key in ("active_connections", "healthy_upstream_hosts")
        else f"{value:.2f}"
        if key == "success_pct"
        else f"{value:.1f}"
    )


class LiveView:
    """Shows the latest values; a context manager around the run's main loop."""

    def __init__(
        self, console: Console, services: list[str], caption: str, duration: float | None
    ) -> None:
        """``services`` in table order; ``caption`` says what runs (replicas, load, entry)."""
        self.console = console
        self.services = services
        self.caption = caption
        self.duration = duration
        self.interactive = console.is_terminal
        self._last_plain = -PLAIN_EVERY
        self._values: Values = {}
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
        for column in COLUMNS:
            table.add_column(column.header, justify="right")
        for name in self.services:
            row = self._values.get(name, {})
            table.add_row(name, *(_cell(row, c.key) for c in COLUMNS))
        return table

    def _view(self) -> Group:
        return Group(self.table(), *(Text(line) for line in self._notes), self._progress)

    def update(self, values: Values, elapsed: float, notes: list[str] | None = None) -> None:
        """Show ``values`` and, under the table, ``notes`` (None keeps the last ones; a
        terminal that is not interactive prints them when they change)."""
        self._values = values
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
                row = values.get(name, {})
                cells = "  ".join(
                    f"{c.header} {_cell(row, c.key)}" for c in COLUMNS if c.key in row
                )
                self.console.print(
                    f"[{elapsed:5.0f}s] {name}: {cells or 'no data yet'}",
                    highlight=False,
                    soft_wrap=True,
                )

    def __enter__(self) -> "LiveView":
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
