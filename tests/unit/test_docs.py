"""The README and docs/ as a reader meets them (issue 23 item 1): a README of at most 300
lines, every relative link in README.md and docs/*.md pointing at a file (and heading) that
exists, every page of docs/ reachable from the README, and docs/configuration.md naming every
configuration key with the default the settings model has.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from components.settings.model import FaultSpec, ServiceSpec, Settings, SloSpec
from tests.conftest import ROOT

README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
CONFIGURATION = ROOT / "docs" / "configuration.md"
MAX_README_LINES = 300

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[ \t]*$", re.M | re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def prose(text: str) -> str:
    """``text`` without fenced code blocks and HTML comments (links there are not links)."""
    return COMMENT.sub("", FENCE.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens
    (github/cmark-gfm's ``anchor`` filter as github.com renders it)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, with GitHub's ``-1``, ``-2`` for repeats."""
    found: set[str] = set()
    for heading in HEADING.findall(prose(path.read_text())):
        base = anchor(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def relative_links(path: Path) -> list[str]:
    """The targets of the file's links and images that are not URLs."""
    text = INLINE_CODE.sub("", prose(path.read_text()))
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)
    ]


def broken_links(path: Path) -> list[str]:
    """Each relative link of ``path`` whose file, or heading within a markdown file, is missing."""
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        target_path = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not target_path.exists():
            broken.append(f"{target}: no such file")
        elif fragment and target_path.suffix == ".md" and fragment not in anchors(target_path):
            broken.append(f"{target}: no heading #{fragment} in {target_path.name}")
    return broken


def linked_pages(path: Path) -> set[Path]:
    """The markdown files ``path`` links to."""
    pages = set()
    for target in relative_links(path):
        file_part = target.partition("#")[0]
        if file_part.endswith(".md"):
            pages.add((path.parent / unquote(file_part)).resolve())
    return pages


def test_the_readme_is_at_most_300_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move a section to docs/"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_what_exists(path):
    assert broken_links(path) == []


def test_every_page_of_docs_is_reachable_from_the_readme():
    seen, todo = set(), [README.resolve()]
    while todo:
        page = todo.pop()
        if page not in seen:
            seen.add(page)
            todo += [p for p in linked_pages(page) if p.exists()]
    assert [p.name for p in PAGES if p.resolve() not in seen] == []


def test_links_and_anchors_are_read_as_github_renders_them(tmp_path):
    (tmp_path / "a.md").write_text(
        "# Deploy on ECS (`topology: ecs`)\n## The app's health on EKS\n## Log groups\n"
        "## Log groups\n```sh\n# not a heading [x](missing.md)\n```\n<!-- [y](gone.md) -->\n"
        "[ok](#log-groups-1) `[code](nowhere.md)` [web](https://example.com/x)\n"
        "[b](b.md#deploy-on-ecs-topology-ecs) [bad](a.md#no-such) ![pic](c.png)\n"
    )
    (tmp_path / "b.md").write_text("# Deploy on ECS (`topology: ecs`)\n")
    assert anchors(tmp_path / "a.md") == {
        "deploy-on-ecs-topology-ecs",
        "the-apps-health-on-eks",
        "log-groups",
        "log-groups-1",
    }
    assert broken_links(tmp_path / "a.md") == [
        "a.md#no-such: no heading #no-such in a.md",
        "c.png: no such file",
    ]


# --- docs/configuration.md against the settings model ---------------------------------------

ROW = re.compile(r"^\| ([^|]+) \| ([^|]+) \|", re.M)


def config_rows() -> dict[str, str]:
    """Each key of the page's tables (a first cell of backticked names) -> its default cell."""
    rows = {}
    for names, default in ROW.findall(CONFIGURATION.read_text()):
        for name in re.findall(r"`([^`]+)`", names):
            rows[name] = default.strip()
    return rows


def documented_default(value: object) -> str | None:
    """How the page writes a scalar default (``None``: not a scalar the page spells out)."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, int | float | str) and value != "":
        return f"`{value}`"
    return None


def _key(field: str, info) -> str:
    return info.alias or field


def test_every_stack_key_has_a_row_with_the_models_default():
    rows = config_rows()
    missing, wrong = [], []
    for field, info in Settings.model_fields.items():
        key = "aws:region" if field == "region" else f"mesh-visibility:{_key(field, info)}"
        if key not in rows:
            missing.append(key)
            continue
        default, page = documented_default(info.default), rows[key]
        # "…" cuts a default too long for the table (an image tag): the part shown must match.
        shown = page.split("…")[0] if "…" in page else None
        if default and not (default.startswith(shown) if shown else page.startswith(default)):
            wrong.append(f"{key}: page {page}, model {default}")
    assert missing == [], "docs/configuration.md has no row for these keys"
    assert wrong == []


def test_every_service_field_has_a_row_with_the_models_default():
    rows = config_rows()
    missing, wrong = [], []
    for field, info in ServiceSpec.model_fields.items():
        key = _key(field, info)
        if key not in rows:
            missing.append(key)
            continue
        default = documented_default(info.default)
        if default and default not in rows[key]:
            wrong.append(f"{key}: page {rows[key]}, model {default}")
    assert missing == [], "docs/configuration.md's services table has no row for these fields"
    assert wrong == []


def test_every_slo_and_fault_key_is_named():
    text = CONFIGURATION.read_text()
    keys = [_key(f, i) for spec in (SloSpec, FaultSpec) for f, i in spec.model_fields.items()]
    assert [key for key in keys if key not in text] == []
