"""Pipeline parameters: one typed definition, loaded from `params/*.yaml` and validated.

The keys are the notebooks' parameter names one to one; each notebook declares the subset it uses
in its `parameters` cell, and the runner passes it exactly those. `PipelineParams` is a pydantic
dataclass: its annotations and `Field` bounds are the only statement of each parameter's type and
range, and `load_params` / `params_from_mapping` turn pydantic's errors into one-line
`ParameterError`s naming the source, the key, the value and what is expected. Overrides merge into
the file's values (a mapping into the file's mapping), so `--set rule_actions.valid_user_id=warn`
keeps every other action the file set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails

from lib.contracts import paths
from lib.contracts.rules import ACTIONS, RULE_NAMES, SOURCE_COLUMNS, glob_regex

# What lib.synthetic.generator accepts; it checks its arguments against these same bounds, so a value
# validation lets through is one the generator can write. Faults and as many noisy rows are drawn
# without replacement from a day's rows, hence at most a quarter of them each.
GENERATOR_MAX_FAULT_RATE = 0.25
GENERATOR_MIN_DAYS = 1
GENERATOR_MIN_EVENTS_PER_DAY = 1
GENERATOR_MIN_SEED = 0  # numpy's SeedSequence takes non-negative seeds only
# The last day a generated file can be named (YYYY-MM-DD): generator_start_date plus
# generator_days - 1 must not pass it.
GENERATOR_LAST_DATE = dt.date.max

# How long maintenance keeps old versions readable by default: 30 days, the Delta log's own default retention.
MAINTENANCE_RETENTION_HOURS = 30 * 24
# Parameters that a command reads and no notebook declares: lib.ops.maintain's, and how often
# lib.orchestration.schedule runs it.
COMMAND_PARAMETERS: tuple[str, ...] = ("maintenance_retention_hours", "maintenance_every_runs")

Action = Literal[ACTIONS]
RuleName = Literal[RULE_NAMES]
SourceColumn = Literal[SOURCE_COLUMNS]


class ParameterError(ValueError):
    """A parameter file or value that the pipeline cannot accept; the message names the key."""


@dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))
class PipelineParams:
    """Every parameter of the three notebooks, with its default, type and range.

    Constructing one validates it (pydantic's ValidationError on a bad value); `params_from_mapping`
    and `load_params` report the same as a ParameterError naming the source.
    """

    lake_dir: str = "lake"  # folder of the Delta tables; relative paths are from the project root
    run_id: str = ""  # empty: each notebook run gets a new id
    spark_master: str = "local[2]"  # a Spark master URL: local[N] or spark://host:7077
    shuffle_partitions: Annotated[int, Field(ge=1)] = 4  # spark.sql.shuffle.partitions; about 2x the cores
    driver_memory: str = "4g"  # spark.driver.memory
    spark_ui: bool = False  # serve the Spark UI on localhost
    landing_dir: str = "data/landing"  # folder of the CSV files bronze ingests
    landing_glob: str = ""  # which landing files bronze considers, by path under landing_dir; empty: all
    column_aliases: dict[str, SourceColumn] = dataclasses.field(default_factory=dict)  # header name -> source column
    generate_input: bool = True  # write the generated default input into landing_dir first
    generator_days: Annotated[int, Field(ge=GENERATOR_MIN_DAYS)] = 31  # days of generated input, one file per day
    generator_start_date: str = "2019-10-01"  # first generated day, YYYY-MM-DD
    generator_events_per_day: Annotated[int, Field(ge=GENERATOR_MIN_EVENTS_PER_DAY)] = 20_000  # generated rows per day
    generator_seed: Annotated[int, Field(ge=GENERATOR_MIN_SEED)] = 46  # same seed, same files
    generator_fault_rate: Annotated[float, Field(ge=0, le=GENERATOR_MAX_FAULT_RATE)] = 0.005  # share of faulty rows
    max_price: Annotated[float, Field(gt=0)] = 100_000.0  # upper bound of the valid_price rule
    rule_actions: dict[RuleName, Action] = dataclasses.field(
        default_factory=lambda: {name: "drop" for name in RULE_NAMES}
    )  # rule name -> drop | warn | fail; a rule not named keeps drop
    as_of_date: str = ""  # gold's reference date, YYYY-MM-DD; empty: max event_date in silver
    rfm_recency_days: list[int] = dataclasses.field(default_factory=lambda: [7, 14, 30, 60])
    rfm_frequency_sessions: list[int] = dataclasses.field(default_factory=lambda: [20, 10, 5, 2])
    rfm_monetary: list[float] = dataclasses.field(default_factory=lambda: [1000.0, 500.0, 100.0, 0.0])
    churn_high_days: int = 30  # no activity for more days than this: churn risk High
    churn_medium_days: int = 14  # no activity for more days than this: churn risk Medium
    gold_full_rebuild: bool = False  # rebuild gold from all of silver, not only what new rows touch
    lock_timeout_seconds: Annotated[int, Field(ge=0)] = 600  # wait this long for another run on the lake, then stop
    # lib.ops.maintain: VACUUM keeps the files, and the Delta log the commits, of this many hours back (30 days,
    # Delta's own log retention: as far as reproduce reaches); Delta's retention check refuses 0, and below 168
    # the log keeps its commits 168 hours
    maintenance_retention_hours: Annotated[int, Field(ge=0)] = MAINTENANCE_RETENTION_HOURS
    # lib.orchestration.schedule runs lib.ops.maintain after a succeeded run once this many bronze runs have
    # succeeded since the last maintenance; 0: never
    maintenance_every_runs: Annotated[int, Field(ge=0)] = 10

    @field_validator("generator_start_date", "as_of_date", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        """YAML reads an unquoted 2019-10-01 as a date: take it as the text it was written as."""
        is_date = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        return value.isoformat() if is_date else value

    @field_validator("generator_start_date")
    @classmethod
    def _generated_days_have_dates(cls, value: str, info: ValidationInfo) -> str:
        first = _parse_date(value)
        days = info.data.get("generator_days", GENERATOR_MIN_DAYS)
        if first.toordinal() + days - 1 > GENERATOR_LAST_DATE.toordinal():
            raise ValueError(f"expected a date whose {days} generated days end by {GENERATOR_LAST_DATE}")
        return value

    @field_validator("as_of_date")
    @classmethod
    def _date_or_empty(cls, value: str) -> str:
        if value:
            _parse_date(value)
        return value

    @field_validator("landing_glob")
    @classmethod
    def _relative_glob(cls, value: str) -> str:
        accepted = "expected a glob relative to landing_dir, e.g. 2019-10-02* or **/*.csv, or empty for every file"
        if value.startswith("/") or "://" in value:
            raise ValueError(accepted)
        try:
            glob_regex(value)
        except re.error:
            raise ValueError(f"not a valid glob; {accepted}") from None
        return value

    @field_validator("column_aliases")
    @classmethod
    def _named_headers(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not header.strip() for header in value):
            raise ValueError("an empty header name; expected header name: source column")
        return value

    @field_validator("rule_actions", mode="before")
    @classmethod
    def _every_rule_has_an_action(cls, value: Any) -> Any:
        """A partial mapping sets those rules' actions; the others keep the default, drop."""
        return {**dict.fromkeys(RULE_NAMES, "drop"), **value} if isinstance(value, dict) else value

    @field_validator("rfm_recency_days")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if len(value) != 4 or value != sorted(value):
            raise ValueError("expected 4 thresholds in ascending order")
        return value

    @field_validator("rfm_frequency_sessions", "rfm_monetary")
    @classmethod
    def _descending(cls, value: list[float]) -> list[float]:
        if len(value) != 4 or value != sorted(value, reverse=True):
            raise ValueError("expected 4 thresholds in descending order")
        return value

    @field_validator("churn_medium_days")
    @classmethod
    def _medium_before_high(cls, value: int, info: ValidationInfo) -> int:
        high = info.data.get("churn_high_days")
        if high is not None and value > high:
            raise ValueError(f"expected at most churn_high_days ({high})")
        return value

    def path(self, name: str) -> Path | str:
        """A path parameter by the project's one rule (`lib.contracts.paths.resolve`); a URI (s3a://, abfss://) as given."""
        return paths.resolve(getattr(self, name))

    def as_dict(self) -> dict[str, Any]:
        """Every parameter by name, as the notebooks and the ledger take them."""
        return dataclasses.asdict(self)


PARAMETER_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(PipelineParams))
_HINTS: dict[str, Any] = typing.get_type_hints(PipelineParams)


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("expected a date YYYY-MM-DD") from None


def _type_name(expected: Any) -> str:
    """A type as the error message shows it: list[int], dict[str, drop | warn | fail]."""
    if typing.get_origin(expected) is Literal:
        return " | ".join(str(option) for option in typing.get_args(expected))
    if typing.get_origin(expected) is not None:
        arguments = ", ".join(_type_name(argument) for argument in typing.get_args(expected))
        return f"{typing.get_origin(expected).__name__}[{arguments}]"
    return getattr(expected, "__name__", str(expected))


def _bounds(name: str) -> str:
    """A field's Field(ge=..., le=...) bounds as one range, e.g. `0 <= generator_fault_rate <= 0.25`."""
    low = high = ""
    for bound in PipelineParams.__pydantic_fields__[name].metadata:
        if isinstance(bound, annotated_types.Ge):
            low = f"{bound.ge} <="
        elif isinstance(bound, annotated_types.Gt):
            low = f"{bound.gt} <"
        elif isinstance(bound, annotated_types.Le):
            high = f"<= {bound.le}"
        elif isinstance(bound, annotated_types.Lt):
            high = f"< {bound.lt}"
    if not high:  # `shuffle_partitions >= 1` reads better than `1 <= shuffle_partitions`
        limit, relation = low.split()
        return f"{name} {relation.replace('<', '>')} {limit}"
    return " ".join(part for part in (low, name, high) if part)


def _message(error: ErrorDetails, values: Mapping[str, Any], source: str) -> str:
    """One pydantic error as the one line a ParameterError says."""
    location, kind, value = error["loc"], error["type"], error["input"]
    name = str(location[0]) if location else ""
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"{source}: unknown parameter {name!r}; known parameters: {', '.join(sorted(PARAMETER_NAMES))}"
    keys = "".join(f"[{key!r}]" for key in location[1:] if key != "[key]")
    expected = error["msg"]
    if kind == "literal_error":
        options = typing.get_args(typing.get_args(_HINTS[name])[0 if location[-1] == "[key]" else -1])
        if location[-1] == "[key]":
            return f"{source}: parameter {name}: unknown key {value!r}; expected one of {', '.join(options)}"
        expected = f"expected one of {', '.join(options)}"
    elif kind == "value_error":
        expected = str(error["ctx"]["error"])
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        expected = f"expected {_bounds(name)}"
    elif kind.endswith("_type"):
        keys, value = "", values.get(name, value)
        expected = f"expected {_type_name(_HINTS[name])}"
    return f"{source}: parameter {name}{keys}={value!r}: {expected}"


def merge_parameters(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied: a mapping merges into the mapping it overrides, recursively.

    So an override of one rule's action keeps the other actions that `base` set; any other value
    (a list, a number, a mapping over a non-mapping) replaces what was there.
    """
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_parameters(merged[key], value)
        else:
            merged[key] = value
    return merged


def params_from_mapping(values: Mapping[str, Any], source: str = "parameters") -> PipelineParams:
    """Validate a mapping of parameters; a missing key keeps its default, a partial rule_actions too.

    A bad key or value is a ParameterError of one line naming `source`, the key, the value and what
    is expected.
    """
    unknown = [key for key in values if key not in PARAMETER_NAMES]
    if unknown:
        raise ParameterError(
            f"{source}: unknown parameter {unknown[0]!r}; known parameters: {', '.join(sorted(PARAMETER_NAMES))}"
        )
    try:
        return PipelineParams(**values)
    except ValidationError as error:
        raise ParameterError(_message(error.errors()[0], values, source)) from None


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


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`key=value` pairs from the command line, values read as YAML (numbers, booleans, lists, mappings).

    A dotted key sets one entry of a mapping parameter (`rule_actions.valid_user_id=warn`), and
    a mapping value merges into what the parameter file set rather than replacing it: the text
    after the first dot is the entry's key, so a header name given to column_aliases may hold dots.
    """
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ParameterError(f"--set {pair!r}: expected key=value, e.g. --set generator_days=7")
        name, dot, entry = key.strip().partition(".")
        if dot and not entry:
            raise ParameterError(
                f"--set {pair!r}: expected {name}.KEY=value, e.g. --set rule_actions.valid_user_id=warn"
            )
        parsed = yaml.safe_load(value)
        overrides = merge_parameters(overrides, {name: {entry: parsed} if dot else parsed})
    return overrides


def load_params(path: str | Path, overrides: Mapping[str, Any] | None = None) -> PipelineParams:
    """Load and validate a parameter file, with overrides (e.g. from the command line) merged in."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ParameterError(f"parameter file {path} does not exist; the files in params/ are examples") from None
    except yaml.YAMLError as error:
        raise ParameterError(f"parameter file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ParameterError(f"parameter file {path}: expected a mapping of parameter: value")
    return params_from_mapping(merge_parameters(values, overrides or {}), source=str(path))
