"""One run at a time per run folder, and a clean start after a run whose runner was killed.

The run folder's pid file holds the running runner's pid and its processes' tag, under an
exclusive ``flock`` that the kernel releases when the runner exits in any way. A second run of
the same folder finds it locked and refuses; a run that finds it unlocked but not empty knows
the last runner died without cleaning up (SIGKILL) and reaps that run's tagged processes and
scratch data first (``meshvis/local/reaper.py``; the reaper started with that run normally
did it already).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshvis.local.reaper import reap

PID_FILE = "runner.pid"


class RunDirBusy(RuntimeError):
    """Another run holds the run folder; the message is one line for the user."""


@contextmanager
def hold_run_dir(run_dir: Path, tag: str) -> Iterator[str | None]:
    """Hold ``run_dir`` for the run whose processes carry ``tag``; yields a one-line note if a
    stale run had to be cleaned up first, else None. Raises ``RunDirBusy``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / PID_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd).get("pid", "?")
            raise RunDirBusy(
                f"{run_dir} is in use by another meshvis run (pid {holder}); "
                "wait for it to end or stop it first"
            ) from None
        note = None
        stale = _read(fd)
        if stale.get("tag"):
            killed = reap(str(stale["tag"]))
            note = (
                f"cleaned up after the last run in {run_dir} (runner pid {stale.get('pid')} "
                f"was killed): {killed} processes left over"
            )
        _write(fd, json.dumps({"pid": os.getpid(), "tag": tag}))
        try:
            yield note
        finally:
            # Empty: this run ended cleanly (the file stays, so nobody races on re-creating it).
            _write(fd, "")
    finally:
        os.close(fd)  # releases the lock


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        found = json.loads(os.read(fd, 4096) or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
