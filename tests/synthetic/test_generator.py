"""Tests of the seeded REES46-shaped landing file generator, read back with the csv module."""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from lib.contracts.params import GENERATOR_MAX_FAULT_RATE, ParameterError, params_from_mapping
from lib.synthetic.catalog import CATEGORY_CODES, USER_IDS
from lib.synthetic.generator import FAULT_KINDS, HEADER, GenerationReport, _user_pool_size, generate_landing, main

EVENT_TYPES = {"view", "cart", "remove_from_cart", "purchase"}
KIND_OF_RULE = {"valid_event_time": "null_event_time", "valid_event_type": "invalid_event_type",
                "valid_product_id": "invalid_product_id", "valid_user_id": "invalid_user_id"}
Line = list[str]
Faulty = tuple[GenerationReport, dict[Path, list[Line]]]


def read_lines(path: Path) -> list[Line]:
    """A day file's data lines as field lists, without its header line if it has one."""
    lines = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    return lines[1:] if lines and ",".join(lines[0]) == HEADER else lines


def parsed(text: str, kind: type) -> object | None:
    """A field as bronze types it: None when empty or uncastable."""
    try:
        if kind is datetime:  # the source format, "2019-10-01 00:00:07 UTC"
            return datetime.fromisoformat(text.removesuffix(" UTC")) if text.endswith(" UTC") else None
        return kind(text) if text else None
    except ValueError:
        return None


def failed_rules(fields: Line) -> list[str]:
    """The silver rules a line fails, with bronze semantics (an uncastable field becomes null)."""
    if len(fields) != 9:
        return ["parseable_record"]
    event_time, event_type, product_id, category_id, _, _, price, user_id, _ = fields
    typed = [(event_time, datetime), (product_id, int), (category_id, int), (price, float), (user_id, int)]
    failed = ["parseable_record"] if any(text and parsed(text, kind) is None for text, kind in typed) else []
    product, user, amount = parsed(product_id, int), parsed(user_id, int), parsed(price, float)
    checks = {
        "valid_event_time": parsed(event_time, datetime) is not None,
        "valid_event_type": event_type.strip().lower() in EVENT_TYPES,
        "valid_product_id": product is not None and product > 0,
        "valid_user_id": user is not None and user > 0,
        "valid_price": amount is not None and 0 <= amount <= 100_000,
    }
    return failed + [rule for rule, ok in checks.items() if not ok]


def standardized(fields: Line) -> Line:
    """Silver's standardization: trim every field, lowercase event_type and brand."""
    trimmed = [field.strip() for field in fields]
    trimmed[1], trimmed[5] = trimmed[1].lower(), trimmed[5].lower()
    return trimmed


def dedup_key(fields: Line) -> tuple[str, ...]:
    std = standardized(fields)
    return std[0], std[7], std[2], std[8], std[1]


def days_by_user(rows: list[Line]) -> dict[str, set[str]]:
    days: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows:
        days[row[7]].add(row[0][:10])
    return days


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Faulty:
    """31 small days with a high fault rate: 10 rows of each fault kind per day."""
    report = generate_landing(tmp_path_factory.mktemp("faulty"), events_per_day=2_000, fault_rate=0.05)
    return report, {path: read_lines(path) for path in report.files}


@pytest.fixture(scope="module")
def clean_rows(tmp_path_factory: pytest.TempPathFactory) -> list[Line]:
    """Rows of 10 days of 30,000 events without faults, to measure proportions on."""
    report = generate_landing(tmp_path_factory.mktemp("clean"), days=10, events_per_day=30_000, fault_rate=0)
    return [line for path in report.files for line in read_lines(path)]


def test_writes_one_file_per_day_named_by_date_and_nothing_else(tmp_path: Path) -> None:
    report = generate_landing(tmp_path / "landing", days=3, start_date=date(2019, 10, 30), events_per_day=50)
    names = ["2019-10-30.csv", "2019-10-31.csv", "2019-11-01.csv"]
    assert [path.name for path in report.files] == names
    assert sorted(path.name for path in (tmp_path / "landing").iterdir()) == names
    assert report.skipped_existing == 0
    assert report.rows == sum(len(read_lines(path)) for path in report.files)


def test_same_arguments_give_the_same_bytes_and_the_seed_matters(tmp_path: Path) -> None:
    first = generate_landing(tmp_path / "a", days=2, events_per_day=500, seed=7)
    second = generate_landing(tmp_path / "b", days=2, events_per_day=500, seed=7)
    other_seed = generate_landing(tmp_path / "c", days=2, events_per_day=500, seed=8)
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in second.files]
    assert first.files[0].read_bytes() != other_seed.files[0].read_bytes()
    assert first.files[0].read_bytes() != first.files[1].read_bytes()


def test_a_days_bytes_do_not_depend_on_the_other_days_generated(tmp_path: Path) -> None:
    alone = generate_landing(tmp_path / "alone", days=1, start_date=date(2019, 10, 3), events_per_day=500)
    in_a_month = generate_landing(tmp_path / "month", days=5, events_per_day=500)
    assert in_a_month.files[2].name == alone.files[0].name
    assert in_a_month.files[2].read_bytes() == alone.files[0].read_bytes()


def test_clean_events_do_not_change_with_the_fault_rate(tmp_path: Path) -> None:
    clean = generate_landing(tmp_path / "clean", days=1, events_per_day=3_000, fault_rate=0.0)
    dirty = generate_landing(tmp_path / "dirty", days=1, events_per_day=3_000, fault_rate=0.1)
    clean_lines = {",".join(line) for line in read_lines(clean.files[0])}
    changed = [line for line in read_lines(dirty.files[0]) if ",".join(line) not in clean_lines]
    in_place = sum(dirty.faults[kind] for kind in FAULT_KINDS if kind != "duplicate")
    assert sum(clean.faults.values()) == 0
    assert len(changed) == in_place + dirty.faults["noise"]


def test_rerun_leaves_existing_files_untouched_and_adds_only_new_days(tmp_path: Path) -> None:
    generate_landing(tmp_path, days=2, events_per_day=300, fault_rate=0.1)
    (tmp_path / "2019-10-01.csv").write_text("edited by hand\n")
    report = generate_landing(tmp_path, days=3, events_per_day=300, fault_rate=0.1)
    alone = generate_landing(tmp_path / "alone", days=1, start_date=date(2019, 10, 3), events_per_day=300,
                             fault_rate=0.1)
    assert report.skipped_existing == 2
    assert (tmp_path / "2019-10-01.csv").read_text() == "edited by hand\n"
    assert (report.rows, dict(report.faults)) == (alone.rows, dict(alone.faults))
    assert report.files[2].read_bytes() == alone.files[0].read_bytes()


def test_a_31_day_run_contains_every_file_format_variant(faulty: Faulty) -> None:
    contents = [path.read_bytes() for path in faulty[0].files]
    crlf = [text for text in contents if b"\r\n" in text]
    no_header = [text for text in contents if not text.startswith(HEADER.encode())]
    no_trailing_newline = [text for text in contents if not text.endswith(b"\n")]
    plain = [text for text in contents if text not in crlf + no_header + no_trailing_newline]
    assert all(len(variant) >= 4 for variant in (crlf, no_header, no_trailing_newline, plain))
    assert all(text.count(b"\n") == text.count(b"\r\n") for text in crlf)


def test_every_line_has_nine_fields_except_wrong_field_count_ones(faulty: Faulty) -> None:
    lines = [line for lines in faulty[1].values() for line in lines]
    field_counts = Counter(len(line) for line in lines)
    assert set(field_counts) == {8, 9, 10}
    assert 0 < field_counts[8] + field_counts[10] < faulty[0].faults["unparseable"]


def test_reported_fault_counts_match_the_files(faulty: Faulty) -> None:
    report, files = faulty
    counted: Counter[str] = Counter()
    for lines in files.values():
        texts = [",".join(line) for line in lines]
        counted["duplicate"] += len(texts) - len(set(texts))
        valid = [line for line in lines if not failed_rules(line)]
        counted["noisy_duplicate"] += len(valid) - len({dedup_key(line) for line in valid})
        counted["noise"] += sum(line != standardized(line) for line in valid)
        for line in lines:
            failed = failed_rules(line)
            if "parseable_record" in failed:
                counted["unparseable"] += 1
            elif failed == ["valid_price"]:
                price = parsed(line[6], float)
                kind = "null_price" if price is None else "negative_price" if price < 0 else "price_too_high"
                counted[kind] += 1
            elif failed:
                (rule,) = failed  # a parseable faulty line fails exactly one rule
                counted[KIND_OF_RULE[rule]] += 1
    counted["noisy_duplicate"] -= counted["duplicate"]  # exact copies share the key too
    counted["noise"] -= counted["noisy_duplicate"]  # each noisy copy carries noise too
    assert dict(report.faults) == {kind: 31 * 10 for kind in FAULT_KINDS} | {"noise": 31 * 100}
    assert counted == Counter(report.faults)


def test_duplicates_come_after_a_clean_original_without_noise(faulty: Faulty) -> None:
    copies = 0
    for lines in faulty[1].values():
        first_of_key: dict[tuple[str, ...], Line] = {}
        for line in lines:
            if failed_rules(line):
                continue
            original = first_of_key.setdefault(dedup_key(line), line)
            if original is not line:
                assert original == standardized(original)
                copies += 1
    assert copies == faulty[0].faults["duplicate"] + faulty[0].faults["noisy_duplicate"]


def test_rows_are_sorted_by_event_time_within_a_file(faulty: Faulty) -> None:
    for lines in faulty[1].values():
        times = [line[0] for line in lines if parsed(line[0], datetime)]
        assert times == sorted(times) and len(times) > 1_900


def test_values_look_like_the_real_dataset_once_standardized(faulty: Faulty) -> None:
    codes = {code for code, _ in CATEGORY_CODES} | {""}
    valid = [standardized(line) for lines in faulty[1].values() for line in lines if not failed_rules(line)]
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    for line in valid:
        assert re.fullmatch(r"\d{7,8}", line[2]) and re.fullmatch(r"2[01]\d{17}", line[3])
        assert line[4] in codes and re.fullmatch(r"\d+\.\d\d", line[6])
        assert re.fullmatch(r"5\d{8}", line[7]) and uuid.fullmatch(line[8])
    assert {code.count(".") + 1 for code in codes if code} == {2, 3, 4}


def test_event_and_null_proportions_are_realistic(clean_rows: list[Line]) -> None:
    share = {kind: 100 * count / len(clean_rows) for kind, count in Counter(r[1] for r in clean_rows).items()}
    assert len(clean_rows) == 300_000
    assert share["view"] == pytest.approx(94.7, abs=1.0)
    assert share["cart"] == pytest.approx(3.5, abs=0.5)
    assert share["purchase"] == pytest.approx(1.5, abs=0.3)
    assert share["remove_from_cart"] == pytest.approx(0.3, abs=0.1)
    assert 100 * sum(r[5] == "" for r in clean_rows) / len(clean_rows) == pytest.approx(14, abs=2.5)
    assert 100 * sum(r[4] == "" for r in clean_rows) / len(clean_rows) == pytest.approx(32, abs=3)
    purchase_prices = [float(r[6]) for r in clean_rows if r[1] == "purchase"]
    assert 140 <= statistics.median(purchase_prices) <= 210


def test_products_keep_their_category_and_brand(clean_rows: list[Line]) -> None:
    attributes = defaultdict(set)
    for row in clean_rows:
        attributes[row[2]].add((row[3], row[4], row[5]))
    assert max(len(values) for values in attributes.values()) == 1
    top_share = Counter(r[2] for r in clean_rows).most_common(1)[0][1] / len(clean_rows)
    assert 0.005 < top_share < 0.03  # Zipf-like: one product is popular, not dominant


def test_sessions_are_one_users_views_then_carts_and_purchases(clean_rows: list[Line]) -> None:
    sessions: defaultdict[str, list[Line]] = defaultdict(list)
    for row in sorted(clean_rows, key=lambda r: r[0]):
        sessions[row[8]].append(row)
    assert len(clean_rows) / len(sessions) == pytest.approx(3.4, abs=0.3)
    with_cart = without_cart = 0
    for events in sessions.values():
        assert len({e[7] for e in events}) == 1
        for k, event in enumerate(events):
            seen = {(e[1], e[2]) for e in events[:k]}
            if event[1] in ("cart", "purchase"):
                assert ("view", event[2]) in seen
            if event[1] == "remove_from_cart":
                assert ("cart", event[2]) in seen
            if event[1] == "purchase":
                with_cart += any(kind == "cart" for kind, _ in seen)
                without_cart += not any(kind == "cart" for kind, _ in seen)
    assert with_cart > 0.15 * (with_cart + without_cart) and without_cart > with_cart


def test_users_return_on_other_days_and_evenings_are_busiest(clean_rows: list[Line]) -> None:
    days_active = Counter(len(days) for days in days_by_user(clean_rows).values())
    assert sum(n for days, n in days_active.items() if days >= 2) > 0.3 * sum(days_active.values())
    assert max(days_active) >= 8
    hours = Counter(int(r[0][11:13]) for r in clean_rows)
    assert sum(hours[h] for h in (17, 18, 19)) > 3 * sum(hours[h] for h in (2, 3, 4))


def test_rejects_a_fault_rate_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fault_rate"):
        generate_landing(tmp_path, days=1, fault_rate=0.5)


# The generator's arguments by parameter name, and parameters at every bound validation accepts.
ARGUMENT_OF = {"generator_days": "days", "generator_start_date": "start_date",
               "generator_events_per_day": "events_per_day", "generator_seed": "seed", "generator_fault_rate": "fault_rate"}
AT_THE_BOUNDS = [
    {"generator_days": 2, "generator_start_date": "9999-12-30", "generator_events_per_day": 1, "generator_seed": 0,
     "generator_fault_rate": GENERATOR_MAX_FAULT_RATE},
    {"generator_days": 2, "generator_start_date": "0999-12-31", "generator_events_per_day": 9, "generator_seed": 0,
     "generator_fault_rate": GENERATOR_MAX_FAULT_RATE},
]


def generator_arguments(values: dict) -> dict:
    """generate_landing's keyword arguments for these generator_* parameters, unvalidated."""
    arguments = {ARGUMENT_OF[name]: value for name, value in values.items()}
    return arguments | {"start_date": date.fromisoformat(arguments["start_date"])}


@pytest.mark.parametrize("values", AT_THE_BOUNDS)
def test_the_generator_writes_every_value_validation_accepts_at_its_bounds(tmp_path: Path, values: dict) -> None:
    params = params_from_mapping(values)
    report = generate_landing(tmp_path, **generator_arguments({name: getattr(params, name) for name in values}))
    first = date.fromisoformat(values["generator_start_date"])
    second = date.fromordinal(first.toordinal() + 1)
    assert [path.name for path in report.files] == [f"{first.isoformat()}.csv", f"{second.isoformat()}.csv"]


@pytest.mark.parametrize(("beyond", "named"), [
    ({"generator_fault_rate": GENERATOR_MAX_FAULT_RATE + 0.01}, "generator_fault_rate"),
    ({"generator_days": 0}, "generator_days"),
    ({"generator_days": 3}, "generator_start_date"),  # the third day would be past 9999-12-31
    ({"generator_events_per_day": 0}, "generator_events_per_day"),
    ({"generator_seed": -1}, "generator_seed"),
])
def test_validation_refuses_what_the_generator_refuses(tmp_path: Path, beyond: dict, named: str) -> None:
    values = AT_THE_BOUNDS[0] | beyond
    with pytest.raises(ParameterError, match=f"parameter {named}="):
        params_from_mapping(values)
    with pytest.raises(ValueError, match="need days >= 1"):
        generate_landing(tmp_path, **generator_arguments(values))


def test_the_user_pool_never_needs_more_user_ids_than_there_are() -> None:
    assert (_user_pool_size(20_000), _user_pool_size(USER_IDS)) == (60_000, USER_IDS)


def test_command_line_prints_a_short_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--landing", str(tmp_path), "--days", "2", "--start-date", "2019-11-01",
            "--events-per-day", "400", "--seed", "3", "--fault-rate", "0.05"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "files: 2" in out and "unparseable=4" in out and "seconds:" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2019-11-01.csv", "2019-11-02.csv"]
