"""One run at a time per run folder, and a clean start after a run whose runner was killed.

The run folder's pid file holds the running runner's pid and its processes' tag, under an
exclusive ``flock`` that the kernel releases when the runner exits in any way. A second run of
the same folder finds it locked and refuses; a run that finds it unlocked but not empty knows
the last runner died without cleaning up (SIGKILL) and reaps that run's tagged processes and
scratch data first (``meshvis/local/reaper.py``; the reaper started with that run normally
did it already).

A run also holds its stack file (``flock`` on ``Pulumi.<stack>.yaml`` itself): the same stack
file, whatever the working folder or the path it was named by, runs once at a time, while
stack files of the same name in different folders run side by side (their run folders differ:
``run_folder``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.settings.stack_files import PROJECT_ROOT
from meshvis.local.reaper import reap

PID_FILE = "runner.pid"
OUT = Path("out")
PROC_LOCKS = Path("/proc/locks")


class RunDirBusy(RuntimeError):
    """Another run holds the run folder; the message is one line for the user."""


def run_folder(stack: str, stack_file: Path | None = None) -> Path:
    """``out/run-<stack>`` under the working folder (absolute) for this project's own stacks;
    ``out/run-<stack>-<8 hex of the file's real path>`` for a stack file elsewhere, so two
    stack files of one name do not share a run folder."""
    name = f"run-{stack}"
    if stack_file is not None and stack_file.resolve().parent != PROJECT_ROOT:
        name += "-" + hashlib.sha256(str(stack_file.resolve()).encode()).hexdigest()[:8]
    return (OUT / name).absolute()


@contextmanager
def hold_stack_file(stack_file: Path | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``stack_file`` (nothing for None). Raises
    ``RunDirBusy`` naming the holder's pid if another run holds it."""
    if stack_file is None:
        yield
        return
    fd = os.open(stack_file, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusy(
                f"{stack_file} is being run by another meshvis run (pid "
                f"{_lock_holder(fd)}); wait for it to end or stop it first"
            ) from None
        yield
    finally:
        os.close(fd)


def _lock_holder(fd: int) -> str:
    """The pid holding a ``flock`` on ``fd``'s file, from /proc/locks (``?`` if not found)."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        for line in PROC_LOCKS.read_text().splitlines():
            fields = line.split()
            if "FLOCK" in fields and inode in fields:
                return fields[fields.index(inode) - 1]
    except OSError:
        pass
    return "?"


@contextmanager
def hold_run_dir(run_dir: Path, tag: str, stack_file: Path | None = None) -> Iterator[str | None]:
    """Hold ``run_dir`` (and ``stack_file``) for the run whose processes carry ``tag``;
    yields a one-line note if a stale run had to be cleaned up first, else None. Raises
    ``RunDirBusy``."""
    with hold_stack_file(stack_file), _hold_folder(run_dir, tag) as note:
        yield note


@contextmanager
def _hold_folder(run_dir: Path, tag: str) -> Iterator[str | None]:
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
