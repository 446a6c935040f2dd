"""The repository stands alone: no tracked file reaches outside it, and every relative link resolves inside it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lib.contracts.paths import REPO_ROOT

# A path out of the repository into a sibling folder, as text or built with pathlib, or a
# document that only exists outside it.
OUTSIDE_PATH = re.compile(r"\.\./shared\b|/\s*[\"']shared[\"']\s*/|\bSPEC\.md\b|medallion_architecture\.md")
# A Markdown link or image with a relative target: [text](target) where target has no scheme.
RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")
BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf", ".parquet", ".jar", ".gz", ".zip"})


def tracked_files() -> list[Path]:
    """The files git tracks, or, outside a git checkout, every file but the environment and caches."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, capture_output=True, check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        skipped = {".git", ".venv", ".cache", "__pycache__", ".pytest_cache"}
        return [path for path in REPO_ROOT.rglob("*") if path.is_file() and not skipped & set(path.parts)]
    return [REPO_ROOT / name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]


def text_files() -> list[Path]:
    return [path for path in tracked_files() if path.suffix.lower() not in BINARY_SUFFIXES]


def markdown_texts(path: Path) -> list[str]:
    """The Markdown a file shows a reader: the file itself, or a notebook's markdown cells."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]
    return [path.read_text(encoding="utf-8")]


def test_the_pattern_finds_what_it_must() -> None:
    # The sibling folder's name is put together here, so that this file does not name it itself.
    sibling, spec = "/".join(["..", "shared"]), ".".join(["SPEC", "md"])
    assert OUTSIDE_PATH.search(f"see {sibling}/design/{spec}")
    assert OUTSIDE_PATH.search(f"every rule of {spec}, with nulls")
    assert OUTSIDE_PATH.search(f'Path(__file__).resolve().parents[2] / "{sibling[3:]}" / "data"')
    assert not OUTSIDE_PATH.search("a lake on object storage has no shared lock")
    assert not OUTSIDE_PATH.search('Path(__file__).resolve().parents[1] / "data" / "samples"')


def test_no_tracked_file_reaches_outside_the_repository() -> None:
    found = []
    for path in text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
                  for match in OUTSIDE_PATH.finditer(text)]
    assert found == []


@pytest.mark.parametrize("suffix", [".md", ".ipynb"])
def test_every_relative_link_resolves_inside_the_repository(suffix: str) -> None:
    broken = []
    for path in (path for path in tracked_files() if path.suffix == suffix):
        for text in markdown_texts(path):
            for target in RELATIVE_LINK.findall(text):
                resolved = (path.parent / target.split("#")[0]).resolve()
                if not resolved.is_relative_to(REPO_ROOT) or not resolved.exists():
                    broken.append(f"{path.relative_to(REPO_ROOT)}: {target}")
    assert broken == []


def test_the_real_sample_rows_are_in_the_repository() -> None:
    samples = REPO_ROOT / "data" / "samples" / "rees46"
    october = (samples / "2019-Oct_head_17434rows.csv").read_bytes()
    november = (samples / "2019-Nov_head_683rows_noheader.csv").read_bytes()
    assert october.startswith(b"event_time,event_type,") and b"\r\n" in october
    assert not october.endswith(b"\n"), "the last line of the October file is cut off"
    assert not november.startswith(b"event_time") and not november.endswith(b"\n")
    assert len(october.splitlines()) == 17_436 and len(november.splitlines()) == 683
    tracked = {path.relative_to(REPO_ROOT).as_posix() for path in tracked_files()}
    assert {f"data/samples/rees46/{name}" for name in ("README.md", "2019-Oct_head_17434rows.csv",
                                                       "2019-Nov_head_683rows_noheader.csv")} <= tracked
