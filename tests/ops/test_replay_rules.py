"""A replay applies silver's own rules and checks: a `fail` rule stops it before any write, naming rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import Stages
from lib import layers
from lib.lake import storage
from lib.ops import replay


def test_a_fail_rule_stops_the_replay_naming_the_rule_and_rows_and_writes_nothing(
    spark: SparkSession, stages: Stages, tmp_path: Path
) -> None:
    failing = stages.copy("gold", tmp_path, run_id="replay-fail", rule_actions={"valid_price": "fail"})
    lake = failing.path("lake_dir")
    tables = ("events_quarantine", "events_cleaned", "quarantine_history", "dq_metrics")
    before = {name: storage.table_version(spark, lake, name) for name in tables}
    with pytest.raises(layers.RuleFailure,
                       match=r"rule valid_price \(action fail\) failed on \d+ of \d+ rows, e\.g\. at \S+\.csv:\d+"):
        replay.run_replay(spark, failing)
    assert {name: storage.table_version(spark, lake, name) for name in tables} == before
