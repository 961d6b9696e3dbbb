"""The docs a newcomer reads: a short README, and every relative link in the Markdown files
(README.md, docs/, the package READMEs) pointing at a file and heading that exist."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.services import REPO

# [text](target) and ![alt](target), but not inside inline code.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`[^`]*`")
FENCE = re.compile(r"^(```|~~~)")


def _markdown_files() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = [REPO / name for name in tracked if (REPO / name).is_file()]
    return sorted(p for p in files if "node_modules" not in p.parts)


def _prose_lines(path: Path, keep_code: bool = False) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed unless kept."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line if keep_code else CODE_SPAN.sub("", line))
    return lines


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = CODE_SPAN.sub(lambda m: m.group(0).strip("`"), heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen = set(), {}
    for line in _prose_lines(path, keep_code=True):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        anchor = _anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def _broken_links(path: Path) -> list[str]:
    broken = []
    for line in _prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: …
                continue
            file_part, _, fragment = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                broken.append(f"{target} (no such file)")
            elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved):
                broken.append(f"{target} (no such heading)")
    return broken


def test_the_readme_stays_short_enough_to_read_in_five_minutes():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move depth to docs/"


def test_the_markdown_files_checked_include_the_readme_and_docs():
    names = {p.relative_to(REPO).as_posix() for p in _markdown_files()}
    assert {"README.md", "docs/faults.md", "benchmarks/README.md"} <= names


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(path):
    assert _broken_links(path) == []


def test_a_broken_link_and_a_missing_heading_are_caught(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading\n")
    page.write_text(
        "# Page\n\n[fine](other.md#a-code-heading) [self](#page) [web](https://example.org)\n"
        "[gone](missing.md) [no heading](other.md#nowhere) `[code](not-a-link.md)`\n"
        "```\n[fenced](not-a-link-either.md)\n```\n"
    )
    assert _broken_links(page) == [
        "missing.md (no such file)",
        "other.md#nowhere (no such heading)",
    ]


def test_an_asset_that_writes_a_table_describes_it_with_the_tables_own_words():
    """The meaning of a table is written once (assets/tables.py) and reused by its asset."""
    import assets.tables
    from assets.definitions import defs
    from resources.warehouse.schema import TableSpec

    specs = {v.name: v for v in vars(assets.tables).values() if isinstance(v, TableSpec)}
    graph = defs.resolve_asset_graph()
    checked = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        table = (node.metadata or {}).get("table")
        if table in specs:
            assert (node.description or "").startswith(specs[table].description), key
            checked.append(key.to_user_string())
    assert {"raw_images", "image_hashes", "train_test_split"} <= set(checked)
