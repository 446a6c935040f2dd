"""The landing folder's files as bronze sees them: which to consider, which to refuse, what happened.

Pure Python over file names, first bytes, headers and per-file counts; reading them is the
pipeline's job. A binary file is refused (not ingested, left in place) rather than turned into
lines of noise; an empty or header-only file has nothing to ingest and is reported as such.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Iterable, Mapping

import pandas as pd

from lib.contracts.rules import glob_regex
from lib.transforms import bronze

# How many first bytes of a file tell whether it is text.
HEAD_BYTES = 8192
# Formats that land by mistake, by their first bytes.
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PAR1", "parquet"),
    (b"\x89PNG", "png"),
    (b"PK\x03\x04", "zip"),
    (b"%PDF", "pdf"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ", "xz"),
    (b"(\xb5/\xfd", "zstd"),
    (b"ORC", "orc"),
    (b"Obj\x01", "avro"),
)
# Separators a CSV exported elsewhere may use instead of commas.
OTHER_DELIMITERS: tuple[str, ...] = (";", "\t", "|")

INGESTED, ALREADY_INGESTED, EMPTY, HEADER_ONLY = "ingested", "already ingested", "empty", "header only"
REFUSED_BINARY = "refused: binary"


# A URI's scheme and the slashes after it: file:/, file:///, s3a://.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*")


def source_file(uri: str, landing_uri: str) -> str:
    """A landing file's name in the lake: its path under the landing folder, from both percent-encoded URIs.

    The one place the name is worked out, for the listing and for the lines read (Spark's
    `_metadata.file_path`), so that bronze's exactly-once check compares like with like. A `+` in
    a path is a plus sign, as in any URI path.
    """
    path = urllib.parse.unquote(_SCHEME.sub("", uri))
    root = urllib.parse.unquote(_SCHEME.sub("", landing_uri)).rstrip("/") + "/"
    if not path.startswith(root):
        raise ValueError(f"{uri} is not under the landing folder {landing_uri}")
    return path[len(root):]


def matching(relative_paths: Iterable[str], glob: str) -> list[str]:
    """The paths the landing_glob parameter selects, in the given order."""
    pattern = glob_regex(glob)
    return [path for path in relative_paths if pattern.fullmatch(path)]


def binary_kind(head: bytes) -> str | None:
    """What makes a file's first bytes binary (a known format, or NUL bytes), None for text."""
    for signature, kind in BINARY_SIGNATURES:
        if head.startswith(signature):
            return kind
    if b"\x00" in head:
        return "NUL bytes"
    return None


@dataclasses.dataclass(frozen=True)
class FileStats:
    """A file's bronze rows as counted after parsing."""

    rows: int
    rescued: int
    not_utf8: int
    first_not_utf8_line: int | None
    unbalanced_quotes: int
    first_rescued: str | None


@dataclasses.dataclass(frozen=True)
class FileOutcome:
    """What bronze did with one landing file, and how its layout differed from the source's."""

    file: str
    status: str
    rows: int = 0
    rescued_lines: int = 0
    not_utf8_lines: int = 0
    has_header: bool = False
    drift: Mapping[str, list[str]] = dataclasses.field(default_factory=dict)
    notes: str = ""


def drift_notes(drift: Mapping[str, list[str]], has_header: bool) -> list[str]:
    """A header's differences from the source columns in words."""
    if not has_header:
        return ["no header: columns by position"]
    words = {"extra": "extra columns", "missing": "missing columns", "reordered": "columns reordered",
             "renamed": "renamed by column_aliases"}
    return [f"{words[kind]}: {', '.join(names)}" for kind, names in drift.items() if names]


def content_notes(stats: FileStats) -> list[str]:
    """What an analyst should know about a file's lines: encoding, quotes, delimiter."""
    notes = []
    if stats.not_utf8:
        notes.append(f"{stats.not_utf8} lines not UTF-8 (rescued), first at line {stats.first_not_utf8_line}")
    if stats.unbalanced_quotes:
        notes.append(f"{stats.unbalanced_quotes} lines with an unbalanced quote (a quoted field across lines?)")
    if stats.rows and stats.rescued == stats.rows:
        sample = stats.first_rescued or ""
        delimiters = [d for d in OTHER_DELIMITERS if d in sample and "," not in sample]
        named = {";": "';'", "\t": "tabs", "|": "'|'"}
        notes.append(f"no line parsed: fields separated by {named[delimiters[0]]}, not commas"
                     if delimiters else "no line parsed: not a REES46 CSV file?")
    return notes


def ingested_outcome(name: str, stats: FileStats, header: list[str] | None,
                     aliases: Mapping[str, str]) -> FileOutcome:
    drift = bronze.header_drift(header, aliases) if header is not None else {}
    notes = drift_notes(drift, header is not None) + content_notes(stats)
    return FileOutcome(name, INGESTED, stats.rows, stats.rescued, stats.not_utf8, header is not None, drift,
                       "; ".join(notes))


def file_outcomes(
    new_files: Iterable[str],
    refused: Mapping[str, str],
    headers: Mapping[str, list[str]],
    stats: Mapping[str, FileStats],
    aliases: Mapping[str, str],
) -> list[FileOutcome]:
    """One outcome per new landing file, in the given order."""
    outcomes = []
    for name in new_files:
        if name in refused:
            note = f"{refused[name]}: not ingested, left in the landing folder"
            outcomes.append(FileOutcome(name, REFUSED_BINARY, notes=note))
        elif name in stats:
            outcomes.append(ingested_outcome(name, stats[name], headers.get(name), aliases))
        elif name in headers:
            outcomes.append(FileOutcome(name, HEADER_ONLY, has_header=True, notes="a header and no events"))
        else:
            outcomes.append(FileOutcome(name, EMPTY, notes="no lines, or only blank lines"))
    return outcomes


def outcome_table(outcomes: list[FileOutcome], already_ingested: Iterable[str] = ()) -> pd.DataFrame:
    """The per-file table the bronze notebook shows: file, status, rows, rescued lines, notes."""
    rows = [
        {"file": o.file, "status": o.status, "rows": o.rows, "rescued_lines": o.rescued_lines, "notes": o.notes}
        for o in outcomes
    ]
    rows += [{"file": name, "status": ALREADY_INGESTED, "rows": 0, "rescued_lines": 0, "notes": ""}
             for name in already_ingested]
    table = pd.DataFrame(rows, columns=["file", "status", "rows", "rescued_lines", "notes"])
    return table.sort_values("file", kind="stable").reset_index(drop=True)


def monitor_counts(outcomes: list[FileOutcome]) -> dict[str, tuple[int, int]]:
    """Bronze's monitors for dq_metrics: name -> (evaluated, failed), over new files or lines."""
    ingested = [o for o in outcomes if o.status == INGESTED]
    headed = [o for o in ingested if o.has_header]
    rows = sum(o.rows for o in ingested)

    def files(status: str) -> tuple[int, int]:
        return len(outcomes), sum(o.status == status for o in outcomes)

    def drifted(kind: str) -> tuple[int, int]:
        return len(headed), sum(bool(o.drift.get(kind)) for o in headed)

    return {
        "files_refused_binary": files(REFUSED_BINARY),
        "files_empty": files(EMPTY),
        "files_header_only": files(HEADER_ONLY),
        "files_without_header": (len(ingested), len(ingested) - len(headed)),
        "files_extra_columns": drifted("extra"),
        "files_missing_columns": drifted("missing"),
        "files_reordered_columns": drifted("reordered"),
        "files_renamed_columns": drifted("renamed"),
        "lines_rescued": (rows, sum(o.rescued_lines for o in ingested)),
        "lines_not_utf8": (rows, sum(o.not_utf8_lines for o in ingested)),
    }
