"""Golden renders: every case of tests/golden/cases.yaml, committed under tests/golden/<case>/.

A change to any generator shows up in review as a diff of the documents it changes, per option;
this test fails until the committed renders are regenerated (and that diff is read).
"""

from __future__ import annotations

import pytest

from tests.support.golden_cases import (
    GOLDEN,
    REGENERATE,
    committed_files,
    golden_files,
    load_cases,
)

CASES = load_cases()


def test_the_table_has_a_case_per_option_and_a_folder_per_case():
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir()}
    assert folders == {n for n, c in CASES.items() if not c.unchanged}, REGENERATE
    assert {c.stack for c in CASES.values() if c.is_base} == {"dev", "dev-eks"}
    assert len(CASES) >= 10


@pytest.mark.parametrize("name", CASES)
def test_renders_match_the_committed_golden_files(name):
    rendered = golden_files(name)
    committed = committed_files(name)
    missing = sorted(set(rendered) - set(committed))
    stale = sorted(set(committed) - set(rendered))
    changed = sorted(k for k in set(rendered) & set(committed) if rendered[k] != committed[k])
    assert not (missing or stale or changed), (
        f"{name}: new {missing}, removed {stale}, changed {changed}: {REGENERATE}"
    )


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if not c.is_base])
def test_each_variant_changes_what_it_says(name):
    """A variant renders something of its own unless the table says why not; a variant whose
    option starts reaching a document must drop its ``unchanged`` note."""
    case = CASES[name]
    changes = golden_files(name)
    if case.unchanged:
        assert not changes, f"{name} now changes {sorted(changes)}: drop `unchanged`"
    else:
        assert changes, f"{name} renders exactly as {case.stack}: say why with `unchanged`"
