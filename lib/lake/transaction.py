"""A layer's run as one transaction: the lake's lock, recovery first, tagged commits, one ledger row.

    with transaction.layer_run(spark, lake, record):
        ...  # the layer's reads and Delta commits

Inside, every Delta commit carries the run's attempt id (so it can be undone), and the tables are
first put back to what the last succeeded runs left (undoing a killed run). The run ends with its
row in `pipeline_runs`: succeeded, or failed with its commits undone and the error's first line.
A JVM that dies mid-run is named as such, with what to do, instead of a socket error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import SparkSession

from lib.lake import ledger, lock, recovery
from lib.lake.session import SparkStopped, jvm_answers


@contextlib.contextmanager
def layer_run(
    spark: SparkSession, lake_dir: str | Path, record: ledger.RunRecord
) -> Iterator[ledger.RunRecord]:
    """Run a layer as one unit: lock the lake, undo unfinished runs, tag commits, record the outcome.

    A run that raises has its commits undone before its failed row is written, so the tables
    are as the last succeeded run left them; one that is killed is undone by the next run.
    """
    timeout = record.parameters.get("lock_timeout_seconds", 600)
    with _explain_a_stopped_jvm(spark, record), lock.lake_lock(lake_dir, record.run_id, record.layer, timeout):
        with recovery.tagged_commits(spark, record.attempt_id, record.run_id, record.layer):
            record.rollbacks = recovery.roll_back_unfinished(spark, lake_dir, ledger.succeeded_runs(spark, lake_dir))
            for rollback in record.rollbacks:
                print(f"recovered {rollback.describe()}", flush=True)
            try:
                yield record
            except BaseException as error:
                message = f"{type(error).__name__}: {error}".splitlines()[0][:2000]
                succeeded = ledger.succeeded_runs(spark, lake_dir)
                try:
                    recovery.roll_back_unfinished(spark, lake_dir, succeeded)
                except Exception as rollback_error:  # the next run retries; the ledger says why
                    message += f" (its writes are undone by the next run: {type(rollback_error).__name__})"
                ledger.append_record(spark, lake_dir, record.as_row("failed", message))
                raise
            ledger.append_record(spark, lake_dir, record.as_row("succeeded", None))


@contextlib.contextmanager
def _explain_a_stopped_jvm(spark: SparkSession, record: ledger.RunRecord) -> Iterator[None]:
    """Turn the connection errors of a JVM that died mid-run into what happened and what to do."""
    try:
        yield
    except Exception as error:
        if jvm_answers(spark):
            raise
        raise SparkStopped(
            f"the Spark JVM stopped during the {record.layer} run {record.run_id}, so the run's failure is not "
            "in pipeline_runs. The usual cause is a Java heap too small for the input: if the log above says "
            "java.lang.OutOfMemoryError, raise the parameter driver_memory (this run had "
            f"{record.parameters.get('driver_memory')}) or ingest fewer landing files at once with landing_glob. "
            "The next run of any layer undoes this run's writes before it starts."
        ) from error
