"""The golden render cases (tests/golden/cases.yaml): each a demo stack with settings written
over it, rendered as ``meshvis render`` renders a stack.

``python -m tests.support.golden_cases`` (``make golden``) rewrites tests/golden/<case>/ for
every case; tests/unit/meshvis/test_golden.py compares them with what the code renders, and
tests/consumers/meshvis/test_golden_consumers.py hands every case's documents to their
consumers.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from components.settings.model import Settings
from components.settings.naming import PROJECT
from components.settings.stack_files import PROJECT_ROOT, stack_config
from components.stack import checked_settings
from meshvis.render import stack_documents, write_documents

GOLDEN = PROJECT_ROOT / "tests" / "golden"
CASES_FILE = GOLDEN / "cases.yaml"
# In a variant's folder: the base documents the variant does not render, one path a line.
REMOVED = "removed.txt"
REGENERATE = "regenerate with `make golden` and review the diff"


@dataclass(frozen=True)
class GoldenCase:
    """One row of the case table."""

    name: str
    stack: str
    why: str
    config: dict[str, Any] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Why the option changes no rendered document (None: it must change one).
    unchanged: str | None = None

    @property
    def is_base(self) -> bool:
        """A demo stack as written: its folder holds its whole render."""
        return not (self.config or self.services)


def load_cases(path: Path = CASES_FILE) -> dict[str, GoldenCase]:
    """Every case of the table, by name, in table order."""
    table = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: GoldenCase(name=name, **row) for name, row in table.items()}


def case_config(case: GoldenCase) -> dict[str, Any]:
    """The stack's ``config:`` map with the case's settings written over it."""
    config = copy.deepcopy(stack_config(case.stack))
    for key, value in case.config.items():
        config[key if ":" in key else f"{PROJECT}:{key}"] = value
    services = config[f"{PROJECT}:services"]
    for name, keys in case.services.items():
        [entry] = [s for s in services if s["name"] == name]
        entry.update(keys)
    return config


@cache
def case_settings(name: str) -> Settings:
    """The checked settings of the case ``name`` (the checks a stack file goes through)."""
    return checked_settings(case_config(load_cases()[name]))


def case_documents(name: str) -> dict[str, str]:
    """Every document ``meshvis render`` writes for the case: relative path -> text."""
    return stack_documents(case_settings(name))


def golden_files(name: str) -> dict[str, str]:
    """What tests/golden/<name>/ holds: a base stack's whole render; a variant's documents
    that differ from its base stack's, and ``removed.txt`` if it renders fewer."""
    cases = load_cases()
    case = cases[name]
    documents = case_documents(name)
    if case.is_base:
        return documents
    [base] = [c.name for c in cases.values() if c.is_base and c.stack == case.stack]
    base_documents = case_documents(base)
    files = {path: text for path, text in documents.items() if base_documents.get(path) != text}
    removed = sorted(set(base_documents) - set(documents))
    if removed:
        files[REMOVED] = "".join(f"{path}\n" for path in removed)
    return files


def committed_files(name: str, root: Path = GOLDEN) -> dict[str, str]:
    """What tests/golden/<name>/ holds now: relative path -> text (none without the folder)."""
    folder = root / name
    if not folder.is_dir():
        return {}
    return {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_golden(root: Path = GOLDEN) -> None:
    """Rewrite every case's folder under ``root`` (none for a case that renders nothing of its
    own: git keeps no empty folder); remove the folders of cases no longer in the table (the
    table is the only thing besides them in ``root``)."""
    cases = load_cases()
    for entry in root.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
    for name in cases:
        write_documents(golden_files(name), root / name)


if __name__ == "__main__":
    write_golden()
