"""``python -m meshvis render``: every document a stack would deploy, written to a folder.

Made by the same pure functions the Pulumi program uses, so a user can read, diff or import
them (``aws ecs register-task-definition --container-definitions file://...``,
``aws cloudwatch put-dashboard --dashboard-body file://...``) without deploying anything.
The settings come checked (``components.stack``): rendering does not check them again.

The folder belongs to the render: a marker file says so, and each render first removes what
the last one wrote there, so a service removed from the stack leaves no stale document for
anyone to apply. A folder that is not empty and has no marker is someone else's: refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from components.settings.model import Settings
from meshvis.errors import UsageError
from meshvis.render.ecs import ecs_documents
from meshvis.render.eks import eks_documents

MARKER = ".meshvis-render"


def render_stack(settings: Settings, out: Path) -> list[Path]:
    """Write every generated document of the stack under ``out``, in place of an earlier
    render's; return the paths written. Raises ``UsageError`` if ``out`` is a file or a
    non-empty folder an earlier render did not write."""
    documents = stack_documents(settings)
    _claim(out)
    return write_documents(documents, out)


def _claim(out: Path) -> None:
    """An empty ``out`` with this module's marker in it."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(
                f"--out {out} is not empty and was not written by meshvis render; "
                "choose an empty or new folder"
            )
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "This folder is written by `python -m meshvis render`, which empties it on every render.\n"
    )


def stack_documents(settings: Settings) -> dict[str, str]:
    """Every generated document of the stack: relative path -> file text."""
    if settings.topology == "eks":
        return eks_documents(settings)
    return ecs_documents(settings)


def write_documents(documents: dict[str, str], out: Path) -> list[Path]:
    """Write each ``relative path -> text`` under ``out`` (folders as needed)."""
    written = []
    for relative, text in documents.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
