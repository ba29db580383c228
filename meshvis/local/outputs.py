"""What a run keeps afterwards, kept safe: terminal output that outlives its reader, files
written whole or not at all, and one line for every refusal of the machine.

The rules (docs/reliability.md): the summary is written first, then the pictures; each file is
written to a temporary name in its own folder and renamed into place (a reader never sees half
a file, a failure never leaves one); a failure is one line naming the path and what to do;
a terminal or pipe that goes away never stops the writing of files.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

# Advice per errno for a path that cannot be written or read; the rest get the generic one.
_ADVICE = {
    errno.ENOSPC: "free some space on that disk or choose another path",
    errno.EDQUOT: "free some of your disk quota or choose another path",
    errno.EROFS: "that file system is read-only: choose another path",
    errno.EACCES: "choose a path you may write",
    errno.EPERM: "choose a path you may write",
    errno.EISDIR: "a folder has that name: remove it or choose another path",
    errno.ENOTDIR: "a file stands where a folder should be: choose another path",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.ELOOP: "a symbolic link on the way loops: fix it or choose another path",
    errno.EMFILE: "raise the open-file limit (ulimit -n) or run fewer replicas",
    errno.ENFILE: "the machine is out of file descriptors: stop other programs",
    errno.EADDRINUSE: "stop the program that holds it (ss -lntup shows it) and run again",
}


def advice(err: OSError, fallback: str = "check the path and run again") -> str:
    """What a user can do about ``err``, in a few words."""
    return _ADVICE.get(err.errno or 0, fallback)


def problem(what: str, err: OSError, fallback: str = "check the path and run again") -> str:
    """One line: ``<what> (<reason>): <what to do>``."""
    return f"{what} ({err.strerror or err}): {advice(err, fallback)}"


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` with a temporary path beside ``path`` (same folder, same suffix, so a
    picture library picks the format from it) and rename the result onto ``path``. On any
    failure the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """``text`` into ``path``, whole or not at all (fsynced before the rename)."""

    def write(partial: Path) -> None:
        with open(partial, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())

    write_atomically(path, write)


class Tolerant(io.TextIOBase):
    """A text stream that outlives its reader: when a write or flush fails (a closed terminal
    gives EIO, a reader that exited EPIPE), the stream's descriptor is pointed at /dev/null
    so that nothing written later (also Python's own flush at exit) fails again, and the
    caller goes on writing its files."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        try:
            self._stream.write(text)
            self._stream.flush()
        except OSError:
            self._drop()
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            self._drop()

    def _drop(self) -> None:
        self.gone = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # not a real descriptor (a test's capture): later writes fail quietly too

    def isatty(self) -> bool:
        try:
            return not self.gone and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    def writable(self) -> bool:
        return True
