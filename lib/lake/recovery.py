"""Undo the commits of layer runs that did not succeed: a kill, a crash, or an error mid-run.

A layer's run writes several Delta commits, then its row in `pipeline_runs`. Every commit carries
the run's attempt id, run id and layer in its `userMetadata`; a commit is trusted when the ledger
records that attempt as succeeded, or when it carries no tag (maintenance such as OPTIMIZE).
Before a layer runs, each table is restored to its newest trusted version (a table whose newest
commit is trusted, the usual case, costs one read of that commit's log file), so a run killed
between two commits leaves nothing behind: the next run starts from the last state a run finished.

`events_raw` is not restored: it is append-only, and a file's rows in it are the proof that
the file was ingested (bronze's exactly-once manifest), whatever happened after the append.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lib.contracts import tables
from lib.lake import storage
from lib.lake.session import settings

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
# Every table but the append-only ones (events_raw, see above) and the ledger, which records the attempts.
RESTORED_TABLES: tuple[str, ...] = tuple(
    table.name for table in tables.TABLES.values() if not table.append_only and table.layer != "ledger"
)
HISTORY_WINDOW = 100


@dataclasses.dataclass(frozen=True)
class Rollback:
    """A table put back to its newest trusted version (None: no trusted version, emptied)."""

    table: str
    from_version: int
    to_version: int | None
    runs: tuple[str, ...]

    def describe(self) -> str:
        target = f"version {self.to_version}" if self.to_version is not None else "empty (no finished run wrote it)"
        return (
            f"{self.table}: restored from version {self.from_version} to {target}, undoing unfinished "
            f"run(s) {', '.join(self.runs)}"
        )


def commit_tag(attempt_id: str, run_id: str, layer: str) -> str:
    return json.dumps({"attempt_id": attempt_id, "run_id": run_id, "layer": layer}, sort_keys=True)


def parse_commit_tag(user_metadata: str | None) -> dict[str, str] | None:
    """The attempt_id, run_id and layer of a commit written by a layer run; None for other commits."""
    if not user_metadata:
        return None
    try:
        tag = json.loads(user_metadata)
    except ValueError:
        return None
    if not isinstance(tag, dict) or "attempt_id" not in tag:
        return None
    return {key: str(tag.get(key)) for key in ("attempt_id", "run_id", "layer")}


@contextlib.contextmanager
def tagged_commits(spark: SparkSession, attempt_id: str, run_id: str, layer: str) -> Iterator[None]:
    """Tag every Delta commit of this session with the run, for as long as the block runs."""
    with settings(spark, {USER_METADATA_CONF: commit_tag(attempt_id, run_id, layer)}):
        yield


def roll_back_unfinished(
    spark: SparkSession, lake_dir: str | Path, succeeded: set[str]
) -> list[Rollback]:
    """Restore every table whose newest commits come from attempts not in `succeeded`."""
    rollbacks = []
    for name in RESTORED_TABLES:
        if storage.table_exists(spark, lake_dir, name):
            rollback = _roll_back_table(spark, lake_dir, name, succeeded)
            if rollback is not None:
                rollbacks.append(rollback)
    return rollbacks


def _roll_back_table(
    spark: SparkSession, lake_dir: str | Path, name: str, succeeded: set[str]
) -> Rollback | None:
    newest = storage.last_commit(spark, lake_dir, name)
    if newest is None or _trusted(newest.user_metadata, succeeded):
        return None  # the common case, read from the newest commit file alone: nothing to undo
    table = DeltaTable.forPath(spark, storage.table_path(lake_dir, name))
    commits = table.history(HISTORY_WINDOW).select("version", "userMetadata").collect()
    trusted = _newest_trusted(commits, succeeded)
    if trusted is None and min(row["version"] for row in commits) > 0:
        commits = table.history().select("version", "userMetadata").collect()
        trusted = _newest_trusted(commits, succeeded)
    latest = max(row["version"] for row in commits)
    if trusted == latest:
        return None
    first_undone = trusted + 1 if trusted is not None else 0
    undone = [parse_commit_tag(row["userMetadata"]) for row in commits if row["version"] >= first_undone]
    runs = sorted({f"{tag['run_id']} ({tag['layer']})" for tag in undone if tag is not None})
    if trusted is None:
        table.delete()
    else:
        table.restoreToVersion(trusted)
    return Rollback(name, latest, trusted, tuple(runs))


def _newest_trusted(commits: list, succeeded: set[str]) -> int | None:
    for row in sorted(commits, key=lambda row: row["version"], reverse=True):
        if _trusted(row["userMetadata"], succeeded):
            return int(row["version"])
    return None


def _trusted(user_metadata: str | None, succeeded: set[str]) -> bool:
    """A commit of a succeeded attempt, or one no layer run tagged (maintenance such as OPTIMIZE)."""
    tag = parse_commit_tag(user_metadata)
    return tag is None or tag["attempt_id"] in succeeded
