"""Golden renders: every document of the demo stacks, committed under tests/golden/<stack>/.

A change to any generator shows up in review as a diff of the documents it changes; this test
fails until the committed renders are regenerated (and that diff is read).
"""

from __future__ import annotations

import pytest

from components.settings.stack_files import PROJECT_ROOT
from components.stack import stack_settings
from meshvis.render import MARKER, stack_documents

GOLDEN = PROJECT_ROOT / "tests" / "golden"
REGENERATE = "regenerate with `make golden` and review the diff"


@pytest.mark.parametrize("stack", ["dev", "dev-eks"])
def test_renders_match_the_committed_golden_files(stack):
    folder = GOLDEN / stack
    documents = stack_documents(stack_settings(stack))
    committed = {
        str(p.relative_to(folder)): p.read_text()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MARKER
    }
    missing = sorted(set(documents) - set(committed))
    stale = sorted(set(committed) - set(documents))
    changed = sorted(k for k in set(documents) & set(committed) if documents[k] != committed[k])
    assert not (missing or stale or changed), (
        f"{stack}: new {missing}, removed {stale}, changed {changed}: {REGENERATE}"
    )
