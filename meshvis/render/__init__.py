"""``python -m meshvis render``: every document a stack would deploy, written to a folder.

Made by the same pure functions the Pulumi program uses, so a user can read, diff or import
them (``aws ecs register-task-definition --container-definitions file://...``,
``aws cloudwatch put-dashboard --dashboard-body file://...``) without deploying anything.
The settings come checked (``components.stack``): rendering does not check them again.
"""

from __future__ import annotations

from pathlib import Path

from components.settings.model import Settings
from meshvis.render.ecs import ecs_documents
from meshvis.render.eks import eks_documents


def render_stack(settings: Settings, out: Path) -> list[Path]:
    """Write every generated document of the stack under ``out``; return the paths written."""
    return write_documents(stack_documents(settings), out)


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
