"""Bad input and schema drift through bronze and silver: nothing is lost, and what happened is visible.

One landing folder holds a file of each bad kind, made from the real REES46 sample rows; bronze
and silver run over it once. Each test then follows its file: every data line is a silver row or
a quarantine row with a reason, or the file was refused and named, and the per-file table and
`dq_metrics` say what happened.
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import REES46_DIR, assert_same_rows, record_reliability, scratch_params
from lib import layers
from lib.contracts.params import PipelineParams
from lib.lake import storage
from lib.transforms import silver

OCTOBER = (REES46_DIR / "2019-Oct_head_17434rows.csv").read_text().splitlines()
HEADER, ROWS = OCTOBER[0], OCTOBER[1:]
RENAMED_HEADER = HEADER.replace("user_id", "customer_id")
MEGABYTE = "x" * (1 << 20)

pytestmark = pytest.mark.lake


def rows(start: int, count: int = 3) -> list[str]:
    """Real sample rows; each file takes its own slice."""
    return ROWS[start : start + count]


def with_field(line: str, position: int, value: str) -> str:
    fields = line.split(",")
    fields[position] = value
    return ",".join(fields)


def csv(*lines: str, header: str | None = HEADER) -> bytes:
    return "\n".join(([header] if header else []) + list(lines)).encode() + b"\n"


def quoted_rows() -> list[str]:
    first, second, third = rows(30)
    return [with_field(first, 5, '"Shiseido, Inc"'), with_field(second, 5, '"say ""hi"""'),
            with_field(third, 5, '"two\nlines"')]


LANDING: dict[str, bytes] = {
    "good.csv": csv(*rows(0)),
    "empty.csv": b"",
    "blank_lines.csv": b"\n  \n\n",
    "header_only.csv": csv(),
    "latin1.csv": csv(*rows(10, 2)) + with_field(rows(12, 1)[0], 5, "nestl\xe9").encode("latin-1") + b"\n",
    "binary/day.csv.gz": gzip.compress(csv(*rows(0))),
    "binary/chart.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "binary/events.parquet": b"PAR1\x15\x04\x15\x00PAR1",
    "binary/nul.csv": csv(rows(20, 1)[0].replace("view", "vi\x00ew")),
    "quoted.csv": csv(*quoted_rows()),
    "wide_field.csv": csv(with_field(rows(40, 1)[0], 5, MEGABYTE), with_field(rows(41, 1)[0], 2, "9" * (1 << 20))),
    "semicolon.csv": csv(*[line.replace(",", ";") for line in rows(50)], header=HEADER.replace(",", ";")),
    "number_formats.csv": csv(with_field(rows(60, 1)[0], 6, "1e3"), with_field(rows(61, 1)[0], 6, '"35,79"'),
                              with_field(rows(62, 1)[0], 6, "35,79"), with_field(rows(63, 1)[0], 6, " 35.79 "),
                              with_field(rows(64, 1)[0], 7, "5.4e8"), header=None),
    "time_zones.csv": csv(*[with_field(line, 0, time) for line, time in zip(rows(70, 5), [
        "2019-10-01 02:00:00", "2019-10-01 02:00:00 +02:00", "2019-10-01 02:00:00 Europe/Berlin",
        "10/01/2019 02:00:00", "2019-10-01"])]),
    "odd_dates.csv": csv(with_field(rows(80, 1)[0], 0, "2999-01-01 00:00:00 UTC"),
                         with_field(rows(81, 1)[0], 0, "1999-12-31 23:59:59 UTC"), rows(82, 1)[0]),
    "negative_ids.csv": csv(with_field(rows(90, 1)[0], 2, "-44600062"), with_field(rows(91, 1)[0], 7, "-541312140")),
    "notes.json": b'{"event_type": "view"}\n{"event_type": "cart"}\n',
    "bom_crlf.csv": "\ufeff".encode() + csv(*rows(95, 2)).replace(b"\n", b"\r\n"),
    "extra_column.csv": csv(*[line + ",fall" for line in rows(100)], header=HEADER + ",campaign"),
    "missing_price.csv": csv(*[",".join(line.split(",")[:6] + line.split(",")[7:]) for line in rows(110)],
                             header=HEADER.replace(",price", "")),
    "reordered.csv": csv(*[",".join(reversed(line.split(","))) for line in rows(120)],
                         header=",".join(reversed(HEADER.split(",")))),
    "renamed.csv": csv(*rows(130), header=RENAMED_HEADER),
}
HEADLESS = {"number_formats.csv", "semicolon.csv", "notes.json"}

RecordProperty = Callable[[str, object], None]  # pytest's record_property
NothingLost = Callable[[str], dict[int, str]]  # the nothing_lost fixture


@dataclasses.dataclass
class Run:
    """One bronze and silver run over a landing folder."""

    spark: SparkSession
    params: PipelineParams
    bronze: layers.LayerSummary

    def table(self, name: str) -> DataFrame:
        return storage.read_table(self.spark, self.params.path("lake_dir"), name)

    def outcome(self, file: str) -> dict:
        files: pd.DataFrame = self.bronze.details["files"]
        return files.set_index("file").loc[file].to_dict()

    def monitor(self, rule: str) -> tuple[int, int]:
        row = self.table("dq_metrics").filter((F.col("layer") == "bronze") & (F.col("rule") == rule)).first()
        return row["evaluated"], row["failed"]

    def where_lines_went(self, file: str) -> dict[int, str]:
        """Each bronze row of the file: `silver`, or `quarantine: <reasons>`, or `lost`."""
        bronze = self.table("events_raw").filter(F.col("source_file") == file)
        located = bronze.withColumn("quarantine_reason", F.lit(None).cast("string"))
        if storage.table_exists(self.spark, self.params.path("lake_dir"), "events_quarantine"):
            quarantine = self.table("events_quarantine").select("source_file", "source_line", "quarantine_reason")
            located = bronze.join(quarantine, on=["source_file", "source_line"], how="left")
        silver_ids = self.table("events_cleaned").select("event_id", F.lit(True).alias("in_silver"))
        keyed = located.transform(silver.standardize).withColumn("event_id", silver.event_id())
        went = keyed.join(silver_ids, on="event_id", how="left").select(
            "source_line",
            F.when(F.col("quarantine_reason").isNotNull(), F.concat(F.lit("quarantine: "), "quarantine_reason"))
            .when(F.col("in_silver"), F.lit("silver")).otherwise(F.lit("lost")).alias("went"),
        )
        return {row["source_line"]: row["went"] for row in went.collect()}


def data_lines(content: bytes, has_header: bool) -> list[int]:
    """Line numbers of the lines that carry an event (not blank, not the header)."""
    lines = content.split(b"\n")
    lines = lines[:-1] if lines and lines[-1] == b"" else lines
    return [n for n, line in enumerate(lines, 1) if line.strip() and not (n == 1 and has_header)]


def ingest(spark: SparkSession, root: Path, files: dict[str, bytes], **params: object) -> Run:
    """The files written into root/landing and bronze run over them."""
    for name, content in files.items():
        (root / "landing" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "landing" / name).write_bytes(content)
    run_params = scratch_params(root, generate_input=False, **params)
    return Run(spark, run_params, layers.run_bronze(spark, run_params))


def run_layers(spark: SparkSession, root: Path, files: dict[str, bytes], **params: object) -> Run:
    """The files ingested by bronze, then silver run."""
    run = ingest(spark, root, files, **params)
    layers.run_silver(spark, run.params)
    return run


@pytest.fixture(scope="module")
def run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_layers(spark, tmp_path_factory.mktemp("bad-input"), LANDING, run_id="bad-input")


def assert_nothing_lost(run: Run, file: str, record_property: RecordProperty) -> dict[int, str]:
    """Every data line of the file is a silver row or a quarantine row with a reason; return where each went.

    The file's data lines and those found in silver or quarantine are recorded for the reliability summary.
    """
    went = run.where_lines_went(file)
    expected = data_lines(LANDING[file], file not in HEADLESS)
    accounted = sum(went.get(line, "lost") != "lost" for line in expected)
    record_reliability(record_property, file, lines_read=len(expected), lines_accounted=accounted,
                       rows_lost=len(expected) - accounted)
    assert sorted(went) == expected
    assert "lost" not in went.values(), went
    assert run.outcome(file)["rows"] == len(went)
    return went


@pytest.fixture
def nothing_lost(run: Run, record_property: RecordProperty) -> NothingLost:
    """`assert_nothing_lost` on the module's run, for one file."""
    return lambda file: assert_nothing_lost(run, file, record_property)


def test_a_good_file_goes_to_silver(run: Run, nothing_lost: NothingLost) -> None:
    assert set(nothing_lost("good.csv").values()) == {"silver"}
    assert run.outcome("good.csv")["status"] == "ingested"


@pytest.mark.parametrize(("file", "status"), [("empty.csv", "empty"), ("blank_lines.csv", "empty"),
                                              ("header_only.csv", "header only")])
def test_an_empty_or_header_only_file_is_reported_with_nothing_to_ingest(run: Run, file: str, status: str) -> None:
    assert run.outcome(file)["status"] == status
    assert run.where_lines_went(file) == {}
    assert run.monitor("files_empty") == (len(LANDING), 2)
    assert run.monitor("files_header_only") == (len(LANDING), 1)


def test_non_utf8_bytes_are_rescued_and_reported_with_the_first_line(run: Run, nothing_lost: NothingLost) -> None:
    went = nothing_lost("latin1.csv")
    assert went == {2: "silver", 3: "silver", 4: "quarantine: parseable_record"}
    assert "1 lines not UTF-8 (rescued), first at line 4" in run.outcome("latin1.csv")["notes"]
    rescued = run.table("events_quarantine").filter(F.col("source_file") == "latin1.csv").first()["_rescued_data"]
    assert "nestl\ufffd" in rescued
    assert run.monitor("lines_not_utf8")[1] == 1


@pytest.mark.parametrize(("file", "kind"), [("binary/day.csv.gz", "gzip"), ("binary/chart.png", "png"),
                                            ("binary/events.parquet", "parquet"), ("binary/nul.csv", "NUL bytes")])
def test_a_binary_file_is_refused_by_name_and_left_in_place(run: Run, file: str, kind: str) -> None:
    outcome = run.outcome(file)
    assert outcome["status"] == "refused: binary"
    assert outcome["notes"] == f"{kind}: not ingested, left in the landing folder"
    assert (run.params.path("landing_dir") / file).read_bytes() == LANDING[file]
    assert run.where_lines_went(file) == {}
    assert run.monitor("files_refused_binary") == (len(LANDING), 4)


def test_quoted_fields_with_commas_parse_and_a_field_across_lines_is_quarantined(
    run: Run, nothing_lost: NothingLost
) -> None:
    went = nothing_lost("quoted.csv")
    assert [went[2], went[3]] == ["silver", "silver"]
    assert all(went[line].startswith("quarantine: ") and "parseable_record" in went[line] for line in (4, 5))
    brands = {row["brand"] for row in run.table("events_raw").filter(F.col("source_file") == "quoted.csv").collect()}
    assert {"Shiseido, Inc", 'say "hi"'} <= brands
    assert "2 lines with an unbalanced quote" in run.outcome("quoted.csv")["notes"]


def test_a_one_megabyte_field_is_kept_whole(run: Run, nothing_lost: NothingLost) -> None:
    went = nothing_lost("wide_field.csv")
    assert went == {2: "silver", 3: "quarantine: valid_product_id, parseable_record"}
    brand = run.table("events_cleaned").filter(F.length("brand") == len(MEGABYTE)).select("brand").first()
    assert brand is not None and brand["brand"] == MEGABYTE


def test_a_wrong_delimiter_is_quarantined_and_named(run: Run, nothing_lost: NothingLost) -> None:
    went = nothing_lost("semicolon.csv")
    assert len(went) == 4 and all(reasons.startswith("quarantine: ") for reasons in went.values())
    assert "no line parsed: fields separated by ';', not commas" in run.outcome("semicolon.csv")["notes"]


def test_numbers_in_another_format_parse_or_are_quarantined(run: Run, nothing_lost: NothingLost) -> None:
    went = nothing_lost("number_formats.csv")
    assert went == {1: "silver", 2: "quarantine: valid_price, parseable_record", 3: "quarantine: parseable_record",
                    4: "silver", 5: "quarantine: valid_user_id, parseable_record"}
    prices = run.table("events_raw").filter(F.col("source_file") == "number_formats.csv").orderBy("source_line")
    assert [row["price"] for row in prices.collect()][::3] == [1000.0, 35.79]


def test_timestamps_without_utc_or_in_another_zone_are_read_in_their_zone(run: Run, nothing_lost: NothingLost) -> None:
    went = nothing_lost("time_zones.csv")
    assert [went[line] for line in (2, 3, 4)] == ["silver"] * 3
    assert went[5] == went[6] == "quarantine: valid_event_time, parseable_record"
    times = run.table("events_raw").filter(F.col("source_file") == "time_zones.csv").orderBy("source_line")
    assert [str(row["event_time"]) for row in times.collect()][:3] == [
        "2019-10-01 02:00:00", "2019-10-01 00:00:00", "2019-10-01 00:00:00"]


def test_future_and_pre_2000_event_times_stay_in_silver_and_are_counted(run: Run, nothing_lost: NothingLost) -> None:
    assert set(nothing_lost("odd_dates.csv").values()) == {"silver"}
    monitors = run.table("dq_metrics").filter(F.col("layer") == "silver").select("rule", "action", "failed")
    found = {row["rule"]: (row["action"], row["failed"]) for row in monitors.collect()}
    assert found["future_event_time"] == ("monitor", 1)
    assert found["event_time_before_2000"] == ("monitor", 1)


def test_negative_ids_are_quarantined(nothing_lost: NothingLost) -> None:
    assert nothing_lost("negative_ids.csv") == {
        2: "quarantine: valid_product_id", 3: "quarantine: valid_user_id"}


def test_a_file_that_is_not_csv_is_quarantined_line_by_line(run: Run, nothing_lost: NothingLost) -> None:
    went = nothing_lost("notes.json")
    assert set(went) == {1, 2} and all("parseable_record" in reasons for reasons in went.values())
    assert "no line parsed: not a REES46 CSV file?" in run.outcome("notes.json")["notes"]


def test_a_byte_order_mark_and_crlf_line_ends_are_read_as_a_header_and_lines(
    run: Run, nothing_lost: NothingLost
) -> None:
    assert set(nothing_lost("bom_crlf.csv").values()) == {"silver"}
    assert run.outcome("bom_crlf.csv")["notes"] == ""


def test_an_extra_column_is_kept_in_bronze_and_reported(run: Run, nothing_lost: NothingLost) -> None:
    assert set(nothing_lost("extra_column.csv").values()) == {"silver"}
    campaigns = run.table("events_raw").filter(F.col("source_file") == "extra_column.csv").select("campaign")
    assert_same_rows(campaigns, [("fall",)] * 3)
    assert run.outcome("extra_column.csv")["notes"] == "extra columns: campaign"
    assert run.bronze.details["extra_columns"] == ["campaign", "customer_id"]


def test_a_missing_column_fails_its_rule_and_is_reported(run: Run, nothing_lost: NothingLost) -> None:
    assert set(nothing_lost("missing_price.csv").values()) == {"quarantine: valid_price"}
    assert run.outcome("missing_price.csv")["notes"] == "missing columns: price"


def test_reordered_columns_are_read_by_name(run: Run, nothing_lost: NothingLost) -> None:
    assert set(nothing_lost("reordered.csv").values()) == {"silver"}
    assert run.outcome("reordered.csv")["notes"].startswith("columns reordered: user_session, user_id, price")


def test_a_renamed_header_keeps_the_column_as_extra_and_quarantines_the_rows(
    run: Run, nothing_lost: NothingLost
) -> None:
    assert set(nothing_lost("renamed.csv").values()) == {"quarantine: valid_user_id"}
    assert run.outcome("renamed.csv")["notes"] == "extra columns: customer_id; missing columns: user_id"
    kept = run.table("events_raw").filter(F.col("source_file") == "renamed.csv").select("customer_id")
    assert_same_rows(kept, [(line.split(",")[7],) for line in rows(130)])


def test_drift_and_rescue_are_counted_in_dq_metrics(run: Run) -> None:
    ingested = int((run.bronze.details["files"]["status"] == "ingested").sum())
    headed = ingested - len(HEADLESS)
    assert run.monitor("files_extra_columns") == (headed, 2)
    assert run.monitor("files_missing_columns") == (headed, 2)
    assert run.monitor("files_reordered_columns") == (headed, 1)
    assert run.monitor("files_without_header") == (ingested, len(HEADLESS))
    rescued = run.table("events_raw").filter(F.col("_rescued_data").isNotNull()).count()
    assert run.monitor("lines_rescued") == (run.bronze.record.rows_out, rescued)


def test_column_aliases_map_a_renamed_header(
    spark: SparkSession, tmp_path: Path, record_property: RecordProperty
) -> None:
    aliased = run_layers(spark, tmp_path, {"renamed.csv": LANDING["renamed.csv"]},
                         column_aliases={"Customer_ID": "user_id"})
    went = assert_nothing_lost(aliased, "renamed.csv", record_property)
    assert sorted(went) == [2, 3, 4] and set(went.values()) == {"silver"}
    assert aliased.outcome("renamed.csv")["notes"] == "renamed by column_aliases: customer_id -> user_id"
    assert aliased.monitor("files_renamed_columns") == (1, 1)
    assert "customer_id" not in aliased.table("events_raw").columns


def test_landing_glob_selects_the_files_bronze_considers(spark: SparkSession, tmp_path: Path) -> None:
    files = {"2019-10-01.csv": csv(*rows(140)), "2019-10-02.csv": csv(*rows(150)),
             "late/2019-10-02.csv": csv(*rows(160)), "README.md": b"# notes\n"}
    one_day = ingest(spark, tmp_path, files, landing_glob="**/2019-10-02*")
    assert one_day.bronze.details["files_new"] == ["2019-10-02.csv", "late/2019-10-02.csv"]
    assert one_day.bronze.details["files_not_matching_glob"] == 2
    assert_same_rows(one_day.table("events_raw").select("source_file").distinct(),
                     [("2019-10-02.csv",), ("late/2019-10-02.csv",)])


def test_file_names_with_spaces_signs_and_accents_are_ingested_once_under_their_names(
    spark: SparkSession, tmp_path: Path
) -> None:
    names = ["day 1.csv", "c+d.csv", "50%.csv", "50%25.csv", "ünïcode/é 2.csv"]
    files = {name: csv(*rows(140 + 3 * i)) for i, name in enumerate(names)}
    first = ingest(spark, tmp_path, files)
    assert sorted(first.bronze.details["files_new"]) == sorted(names)
    assert_same_rows(first.table("events_raw").groupBy("source_file").count(), [(name, 3) for name in names])
    again = layers.run_bronze(spark, first.params)
    assert again.details["files_new"] == [] and again.details["files_already_ingested"] == len(names)
