"""The repository is self-contained: every fact citation names a heading of docs/references.md.

A citation is ``docs/references.md §<id>`` (in Markdown also ``[docs/references.md](…) §<id>``),
optionally followed by more ids: ``§L, §L0.6``, ``§E/§J``, ``§H.2-H.3``. Every id must be one
of the ids a heading of docs/references.md starts with or lists ("§B.5 (also §B.1.5) …"), and
no tracked file may point at the private notes that page replaced.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
OLD_NOTES = "facts" + ".md"  # spelled apart so that this file does not mention it

_ID = r"[A-Z][A-Z0-9]*(?:\.[A-Z0-9]+)*(?![A-Za-z0-9])"
_ID_RE = re.compile(r"§\s?(" + _ID + ")")
_CITATION = re.compile(
    r"references\.md(?:\]\([^)\s]*\)|\))?\s*"  # the page, plain or as a Markdown link
    r"(§\s?" + _ID + r"(?:\s*(?:,|/|-|–|and|or)\s*§?\s?" + _ID + r")*)"
)
_HEADING = re.compile(r"^#{2,6} +§")
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def citations(text: str) -> list[tuple[int, str]]:
    """(line number, id) of every section cited as docs/references.md §<id> in ``text``."""
    found: list[tuple[int, str]] = []
    for match in _CITATION.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.extend((line, i) for i in re.findall(r"§?\s?(" + _ID + ")", match.group(1)))
    return found


def cited_ids(text: str) -> list[str]:
    """Every section id cited as docs/references.md §<id> in ``text``, in order."""
    return [ident for _, ident in citations(text)]


def heading_ids(text: str) -> list[str]:
    """The ids each section heading of the references page starts with or lists."""
    ids: list[str] = []
    for line in text.splitlines():
        if _HEADING.match(line):
            ids.extend(_ID_RE.findall(line))
    return ids


def tracked_files() -> list[Path]:
    """The files git tracks (or, outside a git checkout, every file below the root)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        return [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        found: list[Path] = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
            found.extend(Path(folder) / f for f in files)
        return found


def _texts() -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # binary, or deleted but not yet committed
            continue
        texts.append((str(path.relative_to(ROOT)), text))
    return texts


def test_parser_reads_plain_chained_and_linked_citations() -> None:
    text = (
        "x (docs/references.md §L,\n §L0.6) y docs/references.md §E/§J. "
        "[docs/references.md](../docs/references.md) §H.2-H.3 and docs/references.md §C."
        " docs/bridge.md §9 RFC 9100 §4 §SenML"
    )
    assert cited_ids(text) == ["L", "L0.6", "E", "J", "H.2", "H.3", "C"]


def test_headings_start_with_unique_ids() -> None:
    text = REFERENCES.read_text(encoding="utf-8")
    ids = heading_ids(text)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    headings = [line for line in text.splitlines() if re.match(r"^#{2,6} ", line)]
    assert headings and all(_HEADING.match(h) for h in headings), [h for h in headings if not _HEADING.match(h)]
    for topic in "ABCDEFGHIJKLMNOPQRST":
        assert topic in ids, topic
    assert "L0" in ids


def test_every_citation_names_a_heading() -> None:
    known = set(heading_ids(REFERENCES.read_text(encoding="utf-8")))
    unknown = []
    count = 0
    for name, text in _texts():
        for number, ident in citations(text):
            count += 1
            if ident not in known:
                unknown.append(f"{name}:{number}: §{ident}")
    assert count > 0
    assert not unknown, "citations of docs/references.md without such a heading:\n" + "\n".join(unknown)


def test_cross_references_inside_the_page_resolve() -> None:
    text = REFERENCES.read_text(encoding="utf-8")
    known = set(heading_ids(text))
    missing = sorted({i for i in _ID_RE.findall(text) if i not in known})
    assert not missing, missing


def test_no_tracked_file_points_at_the_old_notes() -> None:
    offenders = [
        f"{name}:{number}"
        for name, text in _texts()
        for number, line in enumerate(text.splitlines(), 1)
        if OLD_NOTES in line.lower()
    ]
    assert not offenders, f"{OLD_NOTES} is not part of the repository; cite docs/references.md:\n" + "\n".join(
        offenders
    )
