"""A time-travel clone of a local Delta table: the table as it was at one version, same version numbers.

The clone's `_delta_log` holds copies of the commits (and checksums, checkpoints, compacted logs)
up to that version and nothing later, so its latest version is that one and every earlier version
reads as in the original; its data files are hard links to the original's (copies where a hard
link is impossible), which costs no space and cannot change the original: Delta never rewrites a
file in place, it adds new ones and unlinks old ones.

Every file outside `_delta_log` is linked, not only those the log references at that version:
the earlier versions, the change feed (`_change_data/`) and deletion vectors
(`deletion_vector_*.bin`) need their files too, and a file no commit of the clone references is
never read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

LOG_DIR = "_delta_log"
LAST_CHECKPOINT = "_last_checkpoint"
SIDECARS = "_sidecars"
# 00000000000000000012.json, .crc, .checkpoint.parquet, .checkpoint.0000000001.0000000002.parquet,
# .checkpoint.<uuid>.json; 00000000000000000010.00000000000000000012.compacted.json
VERSIONED_LOG_FILE = re.compile(r"^(\d{20})(?:\.(\d{20})\.compacted)?\.")


def is_local(path: str | Path) -> bool:
    """A folder on this machine, not an object-store URI (s3a://, abfss://, gs://...)."""
    text = str(path)
    return "://" not in text or text.startswith("file://")


def local_path(path: str | Path) -> Path:
    text = str(path)
    return Path(text[len("file://"):]) if text.startswith("file://") else Path(text)


def delta_tables(lake_dir: Path) -> list[str]:
    """The names of the Delta tables in a lake folder (its sub-folders with a `_delta_log`)."""
    if not lake_dir.is_dir():
        return []
    return sorted(child.name for child in lake_dir.iterdir() if (child / LOG_DIR).is_dir())


def log_file_version(name: str) -> int | None:
    """The version a `_delta_log` file belongs to (the last one for a compacted log), None if none.

    Hadoop's hidden checksum siblings (`.00000000000000000012.json.crc`) belong to their file's version.
    """
    bare = name[1:-len(".crc")] if name.startswith(".") and name.endswith(".crc") else name
    match = VERSIONED_LOG_FILE.match(bare)
    if match is None:
        return None
    return int(match.group(2) or match.group(1))


def clone_table(source: Path, target: Path, version: int) -> int:
    """Clone `source` at `version` into the new folder `target`; the number of data files linked."""
    source_log = source / LOG_DIR
    if not (source_log / f"{version:020d}.json").exists() and not _has_checkpoint(source_log, version):
        raise FileNotFoundError(
            f"{source}: version {version} has neither a commit file nor a checkpoint in {source_log} "
            "(log files older than the log retention are cleaned up)"
        )
    target_log = target / LOG_DIR
    target_log.mkdir(parents=True)
    for entry in source_log.iterdir():
        if entry.is_dir():
            if entry.name == SIDECARS:
                _link_tree(entry, target_log / SIDECARS)
            continue
        entry_version = log_file_version(entry.name)
        if entry_version is not None and entry_version <= version:
            shutil.copy2(entry, target_log / entry.name)
    _copy_last_checkpoint(source_log, target_log, version)
    linked = 0
    for entry in source.iterdir():
        if entry.name == LOG_DIR:
            continue
        linked += _link_tree(entry, target / entry.name) if entry.is_dir() else clone_file(entry, target / entry.name)
    return linked


def _has_checkpoint(log: Path, version: int) -> bool:
    return any(log.glob(f"{version:020d}.checkpoint*.parquet")) or any(log.glob(f"{version:020d}.checkpoint.*.json"))


def _copy_last_checkpoint(source_log: Path, target_log: Path, version: int) -> None:
    """`_last_checkpoint` is a hint Delta follows; one pointing past the version would name a missing file."""
    hint = source_log / LAST_CHECKPOINT
    if not hint.exists():
        return
    try:
        pointed = int(json.loads(hint.read_text())["version"])
    except (ValueError, KeyError, TypeError):
        return
    if pointed <= version:
        shutil.copy2(hint, target_log / LAST_CHECKPOINT)
        checksum = source_log / f".{LAST_CHECKPOINT}.crc"
        if checksum.exists():
            shutil.copy2(checksum, target_log / checksum.name)


def _link_tree(source: Path, target: Path) -> int:
    linked = 0
    for folder, _, files in os.walk(source):
        destination = target / Path(folder).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            linked += clone_file(Path(folder) / name, destination / name)
    return linked


def missing_files(files: Iterable[str]) -> list[str]:
    """The files of a listing (local paths or `file:` URIs, as Spark names a table's files) that no longer exist."""
    return [name for name in files if not _as_local_file(name).exists()]


def _as_local_file(name: str) -> Path:
    parsed = urllib.parse.urlparse(name)
    return Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" else Path(name)


def clone_file(source: Path, target: Path) -> int:
    """Hard-link `source` at `target` (a copy where a link is impossible); 1, for counting."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)
    return 1
