"""The benchmark's report: the pipeline's time divided by the plain PySpark job's and by DuckDB's, per layer."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bench import report
from bench.run import main

COUNTS = {"bronze": 1_000, "silver": 990, "quarantined": 8, "duplicates": 2}


def step(bronze: float, silver: float, gold: float, process: float, start: float | None = None) -> dict:
    seconds = {"bronze": bronze, "silver": silver, "gold": gold, "total": bronze + silver + gold}
    if start is not None:
        seconds["spark_start"] = start
    return {"seconds": seconds, "counts": dict(COUNTS), "process_seconds": process, "peak_jvm_mib": 2_000.0 if start
            else 0.0, "peak_python_mib": 300.0, "peak_total_mib": 2_300.0}


SAVED = {
    "machine": {"date": "2026-12-02 20:00 UTC", "cpu": "2 cores, a processor", "memory": "23.5 GiB", "os": "Linux",
                "python": "3.11.7", "java": "openjdk 17", "pyspark": "4.2.0", "delta-spark": "4.4.0",
                "duckdb": "2.0.1", "streamlit": "1.67.0"},
    "load_before": "1.0 / 1.0 / 1.0", "load_after": "2.0 / 2.0 / 2.0", "command": "python -m bench.run --rows 1000",
    "params": {"spark_master": "local[2]", "shuffle_partitions": 4, "driver_memory": "4g", "generator_seed": 46,
               "generator_fault_rate": 0.005},
    "results": [{
        "rows": 1_000, "days": 31, "events_per_day": 32, "lines": 1_000, "generate_seconds": 0.1,
        "pipeline": step(40.0, 30.0, 30.0, 110.0, start=8.0),
        "plain_spark": step(10.0, 15.0, 25.0, 60.0, start=6.0),
        "reference": step(4.0, 3.0, 1.0, 9.0),
    }],
}


def row_of(markdown: str, label: str) -> list[str]:
    """The cells of the one table row labelled `label`."""
    rows = [line for line in markdown.splitlines() if f"| {label} |" in line]
    assert len(rows) == 1, rows
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_the_report_divides_the_pipeline_by_the_plain_job_and_by_duckdb_per_layer_and_in_total() -> None:
    markdown = report.markdown(SAVED["results"], SAVED, "chart.png")
    # rows, label, session start, bronze, silver, gold, three layers, whole process, peak JVM, peak Python
    assert row_of(markdown, "**pipeline ÷ plain PySpark**")[3:8] == ["**4.0×**", "**2.0×**", "**1.2×**", "**2.0×**",
                                                                    "**1.8×**"]
    assert row_of(markdown, "**pipeline ÷ DuckDB**")[3:8] == ["**10.0×**", "**10.0×**", "**30.0×**", "**12.5×**",
                                                             "**12.2×**"]
    assert row_of(markdown, "plain PySpark job")[2:8] == ["6.0", "10.0", "15.0", "25.0", "50.0", "60.0"]
    assert row_of(markdown, "DuckDB reference")[2] == "–"
    assert "= 1,000 / 990 / 8 / 2 in all three." in markdown


def test_a_plain_job_whose_counts_differ_is_named() -> None:
    saved = copy.deepcopy(SAVED)
    saved["results"][0]["plain_spark"]["counts"]["silver"] = 991
    markdown = report.markdown(saved["results"], saved, "chart.png")
    assert "plain PySpark {'bronze': 1000, 'silver': 991" in markdown and "**they differ**" in markdown


def test_from_results_of_a_run_without_the_plain_job_writes_the_duckdb_ratios_only(tmp_path: Path) -> None:
    """A results.json from before the plain job (no plain_spark, no session start) still makes a report."""
    saved = copy.deepcopy(SAVED)
    del saved["results"][0]["plain_spark"]
    del saved["results"][0]["pipeline"]["seconds"]["spark_start"]
    results = tmp_path / "results.json"
    results.write_text(json.dumps(saved))
    assert main(["--from-results", str(results), "--out", str(tmp_path / "benchmarks.md")]) == 0
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert "plain PySpark" not in markdown
    assert row_of(markdown, "**pipeline ÷ DuckDB**")[6] == "**12.5×**"
    assert row_of(markdown, "Spark + Delta pipeline")[2] == "–"
    assert (tmp_path / "benchmarks.png").stat().st_size > 0


def test_writing_the_report_again_keeps_the_sections_another_command_wrote(tmp_path: Path) -> None:
    results, out = tmp_path / "results.json", tmp_path / "benchmarks.md"
    results.write_text(json.dumps(SAVED))
    assert main(["--from-results", str(results), "--out", str(out)]) == 0
    first = out.read_text()
    maintenance = "## Daily runs, then maintenance\n\nevents_raw: 440 -> 21 files.\n"
    tuning = first.index("## What was tuned")
    out.write_text(first[:tuning] + maintenance + "\n" + first[tuning:])

    assert main(["--from-results", str(results), "--out", str(out)]) == 0
    again = out.read_text()
    assert again.count("## Daily runs, then maintenance\n") == 1 and "events_raw: 440 -> 21 files." in again
    assert again.index("## Daily runs, then maintenance") < again.index("## What was tuned")
    assert again.replace(maintenance + "\n", "") == first


def test_the_targets_name_each_measured_figure_against_its_target() -> None:
    saved = copy.deepcopy(SAVED)
    saved["results"][0].update({
        "incremental": step(5.0, 5.0, 10.0, 30.0, start=8.0),
        "rebuild": step(40.0, 30.0, 30.0, 110.0, start=8.0),
        "nothing_new": step(2.0, 1.0, 3.0, 16.0, start=8.0),
        "nothing_new_schedule": {"process_seconds": 31.5, "peak_jvm_mib": 1_500.0, "peak_python_mib": 400.0},
    })
    markdown = report.markdown(saved["results"], saved, "chart.png")
    assert row_of(markdown, "1,000 rows: pipeline ÷ plain PySpark, three layers")[1:] == ["≤ 1.25×", "2.00×",
                                                                                        "**not met**"]
    assert row_of(markdown, "1,000 rows: new day ÷ rebuild")[1:] == ["≤ 25%", "20%", "met"]
    assert row_of(markdown, "1,000 rows: nothing new, three layers in one process")[1:] == ["≤ 8 s", "6.0 s", "met"]
    assert row_of(markdown, "1,000 rows: nothing new, `lib.orchestration.schedule` wall time")[1:] == [
        "≤ 25 s", "31.5 s", "**not met**"]
    assert row_of(markdown, "nothing new, the same lake again")[2:] == ["2.0", "1.0", "3.0", "6.0"]
    assert "with nothing new took 31.5 s, the whole process" in markdown
    assert "pipeline ÷ DuckDB |" not in markdown.split("## Against the targets")[1].split("## ")[0]
