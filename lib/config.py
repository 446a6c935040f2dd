"""Pipeline parameters: one typed definition, loaded from `params/*.yaml` and validated.

The keys are the notebooks' parameter names one to one; each notebook declares the subset it uses
in its `parameters` cell, and the runner passes it exactly those.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
import typing
from pathlib import Path
from typing import Any

import yaml

from lib.landing import glob_regex
from lib.quality import ACTIONS, RULE_NAMES
from lib.schemas import SOURCE_COLUMNS
from lib.spark import REPO_ROOT


class ParameterError(ValueError):
    """A parameter file or value that the pipeline cannot accept; the message names the key."""


@dataclasses.dataclass(frozen=True)
class PipelineParams:
    """Every parameter of the three notebooks, with its default."""

    lake_dir: str = "lake"  # folder of the Delta tables; relative paths are from the project root
    run_id: str = ""  # empty: each notebook run gets a new id
    spark_master: str = "local[2]"  # a Spark master URL: local[N] or spark://host:7077
    shuffle_partitions: int = 4  # spark.sql.shuffle.partitions; about 2x the cores
    driver_memory: str = "4g"  # spark.driver.memory
    landing_dir: str = "data/landing"  # folder of the CSV files bronze ingests
    landing_glob: str = ""  # which landing files bronze considers, by path under landing_dir; empty: all
    column_aliases: dict[str, str] = dataclasses.field(default_factory=dict)  # header name -> source column
    generate_input: bool = True  # write the generated default input into landing_dir first
    generator_days: int = 31  # days of generated input, one file per day
    generator_start_date: str = "2019-10-01"  # first generated day, YYYY-MM-DD
    generator_events_per_day: int = 20_000  # generated rows per day
    generator_seed: int = 46  # seed of the generator: same seed, same files
    generator_fault_rate: float = 0.005  # share of generated rows with an injected fault
    max_price: float = 100_000.0  # upper bound of the valid_price rule
    rule_actions: dict[str, str] = dataclasses.field(
        default_factory=lambda: {name: "drop" for name in RULE_NAMES}
    )  # rule name -> drop | warn | fail
    as_of_date: str = ""  # gold's reference date, YYYY-MM-DD; empty: max event_date in silver
    rfm_recency_days: list[int] = dataclasses.field(default_factory=lambda: [7, 14, 30, 60])
    rfm_frequency_sessions: list[int] = dataclasses.field(default_factory=lambda: [20, 10, 5, 2])
    rfm_monetary: list[float] = dataclasses.field(default_factory=lambda: [1000.0, 500.0, 100.0, 0.0])
    churn_high_days: int = 30  # no activity for more days than this: churn risk High
    churn_medium_days: int = 14  # no activity for more days than this: churn risk Medium
    gold_full_rebuild: bool = False  # rebuild gold from all of silver, not only what new rows touch
    lock_timeout_seconds: int = 600  # wait this long for another run writing the same lake, then stop

    def __post_init__(self) -> None:
        _check_values(self)

    def path(self, name: str) -> Path | str:
        """A path parameter resolved against the project root; a URI (s3a://, abfss://) as given."""
        value = getattr(self, name)
        if "://" in value:
            return value
        resolved = Path(value).expanduser()
        return resolved if resolved.is_absolute() else REPO_ROOT / resolved

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELD_TYPES: dict[str, Any] = typing.get_type_hints(PipelineParams)


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) is not None:
        return str(expected).replace("typing.", "")
    return getattr(expected, "__name__", None) or str(expected)


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if origin is list:
        (item,) = typing.get_args(expected)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(expected)
        return isinstance(value, dict) and all(
            _matches(k, key) and _matches(v, item) for k, v in value.items()
        )
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check_date(key: str, value: str, allow_empty: bool) -> None:
    if allow_empty and value == "":
        return
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ParameterError(f"parameter {key}={value!r}: expected a date YYYY-MM-DD") from None


def _check_descending(key: str, values: list[float], ascending: bool = False) -> None:
    ordered = sorted(values) if ascending else sorted(values, reverse=True)
    if len(values) != 4 or values != ordered:
        order = "ascending" if ascending else "descending"
        raise ParameterError(f"parameter {key}={values!r}: expected 4 thresholds in {order} order")


def _check_landing_glob(glob: str) -> None:
    accepted = "expected a glob relative to landing_dir, e.g. 2019-10-02* or **/*.csv, or empty for every file"
    if glob.startswith("/") or "://" in glob:
        raise ParameterError(f"parameter landing_glob={glob!r}: {accepted}")
    try:
        glob_regex(glob)
    except re.error:
        raise ParameterError(f"parameter landing_glob={glob!r}: not a valid glob; {accepted}") from None


def _check_column_aliases(aliases: dict[str, str]) -> None:
    for header, column in aliases.items():
        if column not in SOURCE_COLUMNS:
            raise ParameterError(
                f"parameter column_aliases[{header!r}]={column!r}: expected a source column, one of "
                f"{', '.join(SOURCE_COLUMNS)}"
            )
        if not header.strip():
            raise ParameterError("parameter column_aliases: an empty header name; expected header name: source column")


def _check_values(params: PipelineParams) -> None:
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if not _matches(value, FIELD_TYPES[field.name]):
            raise ParameterError(
                f"parameter {field.name}={value!r}: expected {_type_name(FIELD_TYPES[field.name])}"
            )
    for name, action in params.rule_actions.items():
        if name not in RULE_NAMES:
            raise ParameterError(f"parameter rule_actions: unknown rule {name!r}; rules: {', '.join(RULE_NAMES)}")
        if action not in ACTIONS:
            raise ParameterError(
                f"parameter rule_actions[{name!r}]={action!r}: expected one of {', '.join(ACTIONS)}"
            )
    for key in ("shuffle_partitions", "generator_days", "generator_events_per_day"):
        if getattr(params, key) < 1:
            raise ParameterError(f"parameter {key}={getattr(params, key)!r}: expected a number >= 1")
    if params.lock_timeout_seconds < 0:
        raise ParameterError(f"parameter lock_timeout_seconds={params.lock_timeout_seconds!r}: expected seconds >= 0")
    if not 0 <= params.generator_fault_rate < 1:
        raise ParameterError(f"parameter generator_fault_rate={params.generator_fault_rate!r}: expected 0 <= rate < 1")
    if params.max_price <= 0:
        raise ParameterError(f"parameter max_price={params.max_price!r}: expected a positive price")
    _check_landing_glob(params.landing_glob)
    _check_column_aliases(params.column_aliases)
    _check_date("generator_start_date", params.generator_start_date, allow_empty=False)
    _check_date("as_of_date", params.as_of_date, allow_empty=True)
    _check_descending("rfm_recency_days", params.rfm_recency_days, ascending=True)
    _check_descending("rfm_frequency_sessions", params.rfm_frequency_sessions)
    _check_descending("rfm_monetary", params.rfm_monetary)
    if params.churn_medium_days > params.churn_high_days:
        raise ParameterError("parameter churn_medium_days: expected at most churn_high_days")


def check_paths(params: PipelineParams) -> None:
    """Check the local folders a run needs, before it starts; object-store URIs are not checked.

    The lake folder must be writable or creatable; the landing folder must be a readable folder
    (writable or creatable when the generated input is to be written there).
    """
    lake, landing = params.path("lake_dir"), params.path("landing_dir")
    if isinstance(lake, Path):
        _check_writable_folder("lake_dir", params.lake_dir, lake, "a folder where the Delta tables can be written")
    if isinstance(landing, Path) and params.generate_input:
        _check_writable_folder("landing_dir", params.landing_dir, landing, "a folder the generated input can be written to")
    elif isinstance(landing, Path):
        _check_readable_folder(params.landing_dir, landing)


def _check_readable_folder(value: str, folder: Path) -> None:
    prefix = f"parameter landing_dir={value!r}"
    accepted = "expected a folder of CSV files (or generate_input: true to write the generated input there)"
    if not folder.exists():
        raise ParameterError(f"{prefix}: folder {folder} does not exist; {accepted}")
    if not folder.is_dir():
        raise ParameterError(f"{prefix}: {folder} is not a folder; {accepted}")
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as error:
        raise ParameterError(
            f"{prefix}: folder {folder} cannot be read ({error.strerror}); expected a folder this user can list and read"
        ) from None


def _check_writable_folder(key: str, value: str, folder: Path, accepted: str) -> None:
    prefix = f"parameter {key}={value!r}"
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        where = "is not a folder" if existing == folder else f"cannot be created: {existing} is a file"
        raise ParameterError(f"{prefix}: {folder} {where}; expected {accepted}")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        verb = "is not writable" if existing == folder else f"cannot be created in {existing}"
        raise ParameterError(f"{prefix}: folder {folder} {verb} ({error.strerror}); expected {accepted}") from None


def params_from_mapping(values: dict[str, Any], source: str = "parameters") -> PipelineParams:
    """Validate a mapping of parameters (unknown key or wrong type: an error naming the key)."""
    known = {field.name for field in dataclasses.fields(PipelineParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(
            f"{source}: unknown parameter {unknown[0]!r}; known parameters: {', '.join(sorted(known))}"
        )
    merged = dict(values)
    if "rule_actions" in merged and isinstance(merged["rule_actions"], dict):
        merged["rule_actions"] = {**PipelineParams().rule_actions, **merged["rule_actions"]}
    return PipelineParams(**merged)


def load_params(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineParams:
    """Load and validate a parameter file, then apply overrides (e.g. from the command line)."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParameterError(f"parameter file {path} does not exist; the files in params/ are examples") from None
    except yaml.YAMLError as error:
        raise ParameterError(f"parameter file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ParameterError(f"parameter file {path}: expected a mapping of parameter: value")
    return params_from_mapping({**values, **(overrides or {})}, source=str(path))
