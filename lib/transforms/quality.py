"""Data-quality expectations as data: the rules silver applies and the report reads.

Adding a rule is one line in `EXPECTATIONS` (defined in `lib/contracts/rules.py`, without Spark); its
action (drop, warn, fail) is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lib.contracts.rules import (
    EXPECTATIONS,
    QUALITY_METRICS,
    QUALITY_SCORE_TARGET_PCT,
    RULE_NAMES,
    Expectation,
)

# Measured and reported, never acted on: the "Negative prices" quality metric, and event times
# that are valid but implausible (after the run's clock, or before 2000).
MONITORS: dict[str, str] = {
    "negative_price": "price < 0",
    "future_event_time": "event_time > current_timestamp()",
    "event_time_before_2000": "event_time < TIMESTAMP '2000-01-01 00:00:00'",
}

# Bronze's monitors, one dq_metrics row each per bronze run (layer `bronze`, action `monitor`):
# name -> what is counted, out of what.
BRONZE_MONITORS: dict[str, str] = {
    "files_refused_binary": "new landing files refused as binary (not ingested, left in place)",
    "files_empty": "new landing files with no lines, or only blank lines",
    "files_header_only": "new landing files with a header and no events",
    "files_without_header": "ingested files without a header line (columns by position)",
    "files_extra_columns": "ingested files whose header has columns beyond the nine source columns",
    "files_missing_columns": "ingested files whose header lacks a source column",
    "files_reordered_columns": "ingested files whose header orders the source columns differently",
    "files_renamed_columns": "ingested files with a header name mapped by column_aliases",
    "lines_rescued": "bronze rows kept in _rescued_data",
    "lines_not_utf8": "bronze rows whose line was not UTF-8 (rescued)",
}


def failed_flag(name: str) -> str:
    """The column holding whether a row fails the named rule or monitor."""
    return f"_failed_{name}"


def rule_condition(rule: Expectation, max_price: float) -> Column:
    return F.expr(rule.condition.format(max_price=repr(float(max_price))))


def with_rule_failures(df: DataFrame, max_price: float) -> DataFrame:
    """Add one boolean column per rule and monitor; a condition that is null counts as failed."""
    flags = {failed_flag(rule.name): ~F.coalesce(rule_condition(rule, max_price), F.lit(False)) for rule in EXPECTATIONS}
    flags |= {failed_flag(name): F.coalesce(F.expr(condition), F.lit(False)) for name, condition in MONITORS.items()}
    return df.withColumns(flags)


def failed_rules(names: tuple[str, ...] | list[str]) -> Column:
    """Array of the names of the given rules that the row fails, in registry order."""
    return F.filter(
        F.array(*[F.when(F.col(failed_flag(name)), F.lit(name)) for name in names]),
        lambda name: name.isNotNull(),
    )


def rules_with_action(actions: Mapping[str, str], action: str) -> list[str]:
    return [name for name in RULE_NAMES if actions.get(name, "drop") == action]


def with_quarantine_reasons(df: DataFrame, actions: Mapping[str, str]) -> DataFrame:
    """Add `quarantine_reasons`: every failed rule whose action is drop (empty: the row is kept)."""
    return df.withColumn("quarantine_reasons", failed_rules(rules_with_action(actions, "drop")))


def rule_count_columns(extra: Mapping[str, Column] | None = None) -> list[Column]:
    """Aggregates of rows evaluated, failing each rule and monitor, passing every rule, and `extra` conditions."""
    names = list(RULE_NAMES) + list(MONITORS)
    passes_all = ~F.greatest(*[F.col(failed_flag(name)) for name in RULE_NAMES])
    return [
        F.count(F.lit(1)).alias("evaluated"),
        F.count_if(passes_all).alias("passed_all"),
        *[F.count_if(F.col(failed_flag(name))).alias(name) for name in names],
        *[F.count_if(condition).alias(name) for name, condition in (extra or {}).items()],
    ]


def rule_failure_counts(df: DataFrame, extra: Mapping[str, Column] | None = None) -> dict[str, int]:
    """The counts of `rule_count_columns` over the rows, in one pass."""
    return as_counts(df.agg(*rule_count_columns(extra)).first().asDict())


def as_counts(values: Mapping[str, Any]) -> dict[str, int]:
    """Aggregated counts as ints (a count over no rows may come back null)."""
    return {key: int(value or 0) for key, value in values.items()}


def percent(part: int, whole: int) -> float | None:
    """A rate in percent, rounded half up to 2 decimals like Spark's round, null where the denominator is 0."""
    if whole == 0:
        return None
    return float(Decimal(repr(100.0 * part / whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def dq_metric_rows(
    counts: Mapping[str, int], actions: Mapping[str, str], duplicates: int, deduplicated: int
) -> list[dict[str, object]]:
    """One row per rule and monitor, plus duplicate_rate and quality_score, for `dq_metrics`."""
    evaluated = counts["evaluated"]
    rows: list[dict[str, object]] = []
    for name in RULE_NAMES:
        rows.append(_metric(name, actions.get(name, "drop"), evaluated, counts[name]))
    for name in MONITORS:
        rows.append(_metric(name, "monitor", evaluated, counts[name]))
    rows.append(_metric("duplicate_rate", "metric", deduplicated, duplicates))
    failed_any = evaluated - counts["passed_all"]
    score = _metric("quality_score", "metric", evaluated, failed_any)
    score["value"] = percent(counts["passed_all"], evaluated)
    rows.append(score)
    return rows


def bronze_dq_metric_rows(counts: Mapping[str, tuple[int, int]]) -> list[dict[str, object]]:
    """One `dq_metrics` row per bronze monitor, from (evaluated, failed) counts."""
    return [_metric(name, "monitor", *counts[name]) for name in BRONZE_MONITORS]


def _metric(rule: str, action: str, evaluated: int, failed: int) -> dict[str, object]:
    rate = percent(failed, evaluated)
    return {"rule": rule, "action": action, "evaluated": evaluated, "failed": failed, "failed_pct": rate, "value": rate}


def design_quality_table(dq_metrics: DataFrame, run_id: str) -> DataFrame:
    """The quality metrics of `lib.contracts.rules` (metric, target, actual, met) for one run."""
    spark = dq_metrics.sparkSession
    targets = spark.createDataFrame(
        [(position, metric, rule, target) for position, (metric, rule, target) in enumerate(QUALITY_METRICS)],
        "position INT, metric STRING, rule STRING, target STRING",
    )
    actual = dq_metrics.filter(F.col("run_id") == run_id).select("rule", "value")
    is_score = F.col("rule") == "quality_score"
    met = F.when(is_score, F.col("value") > QUALITY_SCORE_TARGET_PCT).otherwise(F.col("value") == 0)
    return (
        targets.join(actual, on="rule", how="left")
        .withColumn("met", met)
        .orderBy("position")
        .select("metric", "target", F.when(F.col("value").isNotNull(), F.format_string("%.2f%%", "value")).alias("actual"), "met")
    )
