"""Remove whatever a local run left: every process tagged with its run id, and its scratch folder.

Two callers, one function:

- run as a script (``python reaper.py <tag>``) next to every run, it waits for its
  stdin to close, which happens when the runner exits in any way, SIGKILL included (the kernel
  closes the pipe), and then reaps. It catches what ``PR_SET_PDEATHSIG`` cannot: the children
  of children (``PR_SET_PDEATHSIG`` is not inherited across fork), since every process of a run
  inherits the ``MESHVIS_RUN`` tag through its environment;
- ``ProcessGroup`` calls ``reap`` at the next start when a run's pid file says a runner died
  without cleaning up (a killed reaper, a reboot of the machine's /tmp aside).

Standard library only: it runs by path, with nothing of the project importable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

RUN_TAG = "MESHVIS_RUN"
ROUNDS = 20


def tagged_pids(tag: str, variable: str = RUN_TAG) -> list[int]:
    """Live processes (not zombies) whose environment has ``<variable>=<tag>``
    (``MESHVIS_RUN=<tag>`` by default).

    The tag is a random id, so a match is a process of that run and never someone else's:
    a pid reused by another program does not carry it.
    """
    marker = f"{variable}={tag}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile, a zombie, or not ours to read
    return [pid for pid in found if pid != os.getpid()]


def scratch_folder(tag: str) -> Path:
    """The folder for the temporary data of the run tagged ``tag`` (Prometheus's TSDB)."""
    return Path(tempfile.gettempdir()) / f"meshvis-{tag}"


def reap(tag: str) -> int:
    """SIGKILL every process tagged ``tag`` (again, until none is left: one may have forked
    meanwhile), then remove the run's scratch folder; the number of processes killed."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        pids = tagged_pids(tag)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.update(pids)
        time.sleep(0.05)
    shutil.rmtree(scratch_folder(tag), ignore_errors=True)
    return len(killed)


def main(argv: list[str]) -> int:
    (tag,) = argv
    # Returns at end of file: the runner closed the pipe, or died and the kernel closed it.
    sys.stdin.buffer.read()
    reap(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
