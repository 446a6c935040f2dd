"""Seeded generator of REES46-shaped clickstream day files: the embedded default input.

It plays the upstream system that delivers files into the landing folder; it is not part of the
pipeline. A day's file depends only on (seed, date, events_per_day, fault_rate): sessions come
from one random stream and faults from another, so the clean events of a day do not change with
`fault_rate`, and a later call with more days only adds files.

Injected faults (keys of `GenerationReport.faults`), each on its own row, mapping to one silver rule:
`null_event_time` (valid_event_time), `invalid_event_type` (valid_event_type), `invalid_product_id`
and `invalid_user_id` (empty, 0 or negative), `negative_price`, `price_too_high` (> 100000) and
`null_price` (valid_price), `unparseable` (parseable_record: a line with the wrong number of fields,
or a field that does not cast; an uncastable product_id, price or event_time is necessarily also
null after the cast, so that row fails the matching valid_* rule too), `duplicate` (an exact copy
of a clean line, later in the file) and `noisy_duplicate` (a copy differing only by case or spaces
in event_type or brand). `noise` counts clean rows with case/space noise that standardization
removes: case only in event_type and brand (the only columns silver lowercases), spaces only
around category_code and user_session.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lib.contracts.params import (
    GENERATOR_LAST_DATE,
    GENERATOR_MAX_FAULT_RATE,
    GENERATOR_MIN_DAYS,
    GENERATOR_MIN_EVENTS_PER_DAY,
    GENERATOR_MIN_SEED,
)
from lib.synthetic.catalog import (
    EVENT_TYPES,
    USER_IDS,
    Catalog,
    DayEvents,
    UserPool,
    build_catalog,
    build_user_pool,
    simulate_day,
)

HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
FAULT_KINDS = (
    "null_event_time", "invalid_event_type", "invalid_product_id", "invalid_user_id", "negative_price",
    "price_too_high", "null_price", "unparseable", "duplicate", "noisy_duplicate",
)
REPORT_KINDS = (*FAULT_KINDS, "noise")
P_PRICE_CHANGE = 0.1  # products whose price moves by up to ±5% on a given day
CLOCK = np.array([f"{s // 3600:02}:{s // 60 % 60:02}:{s % 60:02} UTC" for s in range(86_400)], dtype=object)
INVALID_EVENT_TYPES = ("click", "wishlist", "add_to_cart", "checkout", "page_view")


@dataclass(frozen=True)
class GenerationReport:
    """What one `generate_landing` call wrote."""

    files: tuple[Path, ...]
    rows: int
    faults: Mapping[str, int]
    skipped_existing: int


def file_format(day: date) -> tuple[bool, bool, bool]:
    """(CRLF line endings, header line, trailing newline) of a day's file, by weekday alone.

    Thursdays use CRLF, Fridays have no header, Saturdays no trailing newline, Sundays all three:
    any 7 consecutive days contain every variant.
    """
    weekday = day.isoweekday()
    return weekday in (4, 7), weekday not in (5, 7), weekday not in (6, 7)


def _day_fields(day: date, events: DayEvents, catalog: Catalog, users: UserPool,
                rng: np.random.Generator) -> list[np.ndarray]:
    """The nine text columns of a day's rows; a product's price may move a little from day to day."""
    change = rng.random(len(catalog.base_price)) < P_PRICE_CHANGE
    factor = np.where(change, rng.uniform(0.95, 1.05, len(change)), 1.0)
    products, product_row = np.unique(events.product, return_inverse=True)
    user_ids, user_row = np.unique(events.user, return_inverse=True)

    def text(values: np.ndarray) -> np.ndarray:
        return np.array([str(value) for value in values.tolist()], dtype=object)

    price = np.round(catalog.base_price[products] * factor[products], 2)
    return [
        f"{day.isoformat()} " + CLOCK[events.second],
        np.array(EVENT_TYPES, dtype=object)[events.event_type],
        text(catalog.product_id[products])[product_row],
        text(catalog.category_id[products])[product_row],
        catalog.category_code[products][product_row],
        catalog.brand[products][product_row],
        np.array([f"{p:.2f}" for p in price.tolist()], dtype=object)[product_row],
        text(users.user_id[user_ids])[user_row],
        np.array(events.session_ids, dtype=object)[events.session],
    ]


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _unparseable(f: list[str], day: date, rng: np.random.Generator) -> list[str]:
    """A line that bronze must rescue: an uncastable field or the wrong number of fields."""
    variant = int(rng.integers(6))
    if variant == 0:
        f[2] = f[2][:2] + "ab"
    elif variant == 1:
        f[6] = _pick(("abc", "n/a"), rng)
    elif variant == 2:
        f[0] = f"{day.year}-13-45 99:99:99 UTC"
    elif variant == 3:
        f[3] = f"{int(f[3]):.2E}"  # as a spreadsheet saves it, e.g. 2.05E+18
    elif variant == 4:
        return [*f[:7], f[7][: int(rng.integers(1, len(f[7])))]]  # cut inside user_id, like the real file
    else:
        f.append("")  # a stray trailing comma
    return f


def _corrupt(kind: str, f: list[str], day: date, rng: np.random.Generator) -> list[str]:
    """The fields of a clean row with exactly one fault of `kind`."""
    if kind == "null_event_time":
        f[0] = ""
    elif kind == "invalid_event_type":
        f[1] = _pick(INVALID_EVENT_TYPES, rng)
    elif kind == "invalid_product_id":
        f[2] = _pick(("", "0", "-" + f[2]), rng)
    elif kind == "invalid_user_id":
        f[7] = _pick(("", "0", "-" + f[7]), rng)
    elif kind == "negative_price":
        f[6] = "-" + (f[6] if f[6] != "0.00" else "1.00")
    elif kind == "price_too_high":
        f[6] = f"{rng.uniform(100_001, 1_000_000):.2f}"
    elif kind == "null_price":
        f[6] = ""
    elif kind == "unparseable":
        return _unparseable(f, day, rng)
    return f


def _case_noise(value: str, rng: np.random.Generator) -> str:
    noisy = _pick((value.upper(), value.title(), f" {value}", f"{value} ", f" {value.upper()} "), rng)
    return noisy if noisy != value else f"{value} "


def _noisy(f: list[str], rng: np.random.Generator, columns: Sequence[int]) -> list[str]:
    """Noise on one of `columns` that trimming (and lowercasing event_type, brand) undoes."""
    column = _pick([c for c in columns if f[c]], rng)
    value = f[column]
    f[column] = _case_noise(value, rng) if column in (1, 5) else _pick((f" {value}", f"{value} "), rng)
    return f


def _fault_counts(n: int, fault_rate: float, rng: np.random.Generator) -> dict[str, int]:
    """Rows per kind for a day of `n` events: round(n * fault_rate) faults split evenly, as much noise.

    The remainder of the split goes to random kinds, so that small days still see every kind.
    """
    base, extra = divmod(round(n * fault_rate), len(FAULT_KINDS))
    lucky = set(rng.permutation(len(FAULT_KINDS))[:extra].tolist())
    counts = {kind: base + (k in lucky) for k, kind in enumerate(FAULT_KINDS)}
    return counts | {"noise": round(n * fault_rate)}


def _fault_candidates(events: DayEvents) -> np.ndarray:
    """Rows that may carry a fault: the first of each (session, product, event type).

    A session can view a product twice; blanking both event times would make two identical lines.
    """
    session, product = events.session.astype(np.int64), events.product.astype(np.int64)
    triple = (session * (product.max() + 1) + product) * len(EVENT_TYPES) + events.event_type
    return np.sort(np.unique(triple, return_index=True)[1])


def _inject_faults(columns: list[np.ndarray], events: DayEvents, day: date, fault_rate: float,
                   rng: np.random.Generator) -> tuple[list[str], dict[str, int]]:
    """Lines of a day with faults in place and duplicates right after their original's second."""
    second = events.second
    counts = _fault_counts(len(second), fault_rate, rng)
    candidates = _fault_candidates(events)
    if len(candidates) < sum(counts.values()):  # only on days of a handful of events
        candidates = np.arange(len(second))
    chosen = rng.choice(candidates, sum(counts.values()), replace=False)
    rows = dict(zip(REPORT_KINDS, np.split(chosen, np.cumsum([counts[k] for k in REPORT_KINDS])[:-1])))
    lines = [",".join(row) for row in zip(*(column.tolist() for column in columns))]

    def fields(i: int) -> list[str]:
        return [str(column[i]) for column in columns]

    for kind in FAULT_KINDS[:-2]:
        for i in rows[kind]:
            lines[i] = ",".join(_corrupt(kind, fields(i), day, rng))
    for i in rows["noise"]:
        lines[i] = ",".join(_noisy(fields(i), rng, (1, 4, 5, 8)))
    copies = [lines[i] for i in rows["duplicate"]]
    for i in rows["noisy_duplicate"]:
        copy = fields(i)
        copies.append(",".join(_noisy(copy, rng, (5,) if copy[5] else (1,))))
    if copies:
        sources = np.concatenate([rows["duplicate"], rows["noisy_duplicate"]])
        at = np.searchsorted(second, second[sources], side="right")
        lines = np.insert(np.array(lines, dtype=object), at, np.array(copies, dtype=object)).tolist()
    return lines, counts


def _catalog_size(events_per_day: int) -> int:
    """Products in the catalog: about one per two daily events, a small shop's long tail."""
    return min(200_000, max(1_000, events_per_day // 2))


def _user_pool_size(events_per_day: int) -> int:
    """Users in the pool: three per daily event, the real ratio (5.3 M users, 1.8 M events a day).

    At most the ids there are, so that no number of events per day runs out of user ids.
    """
    return min(USER_IDS, max(1_000, 3 * events_per_day))


def _day_lines(day: date, seed: int, events_per_day: int, fault_rate: float, catalog: Catalog,
               users: UserPool) -> tuple[list[str], dict[str, int]]:
    """The data lines of a day's file and its fault counts; events and faults use separate streams."""
    events_stream, faults_stream = np.random.SeedSequence([seed, day.toordinal()]).spawn(2)
    events_rng = np.random.default_rng(events_stream)
    events = simulate_day(events_per_day, catalog, users, events_rng)
    columns = _day_fields(day, events, catalog, users, events_rng)
    return _inject_faults(columns, events, day, fault_rate, np.random.default_rng(faults_stream))


def _write_day(path: Path, lines: list[str], day: date) -> None:
    """Write a day file in its format variant, atomically (a dot-named temp file, then a rename)."""
    crlf, header, trailing_newline = file_format(day)
    eol = "\r\n" if crlf else "\n"
    text = eol.join([HEADER, *lines] if header else lines) + (eol if trailing_newline else "")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(text.encode("utf-8"))
    os.replace(temporary, path)


def generate_landing(
    landing_dir: str | Path,
    *,
    days: int = 31,
    start_date: date = date(2019, 10, 1),
    events_per_day: int = 20_000,
    seed: int = 46,
    fault_rate: float = 0.005,
) -> GenerationReport:
    """Write one `YYYY-MM-DD.csv` per day into `landing_dir`, leaving existing files untouched.

    The arguments' bounds are the generator_* parameters' bounds in `lib.contracts.params`, so a run whose
    parameters validated does not fail here.
    """
    last_day = start_date.toordinal() + days - 1
    if (days < GENERATOR_MIN_DAYS or events_per_day < GENERATOR_MIN_EVENTS_PER_DAY or seed < GENERATOR_MIN_SEED
            or not 0 <= fault_rate <= GENERATOR_MAX_FAULT_RATE or last_day > GENERATOR_LAST_DATE.toordinal()):
        raise ValueError(
            f"need days >= {GENERATOR_MIN_DAYS}, events_per_day >= {GENERATOR_MIN_EVENTS_PER_DAY}, "
            f"seed >= {GENERATOR_MIN_SEED}, 0 <= fault_rate <= {GENERATOR_MAX_FAULT_RATE} "
            f"and the last day by {GENERATOR_LAST_DATE}"
        )
    landing = Path(landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    # isoformat, not %Y: it writes a year before 1000 with four digits, as date.fromisoformat reads it back.
    files = tuple(landing / f"{(start_date + timedelta(days=d)).isoformat()}.csv" for d in range(days))
    missing = [path for path in files if not path.exists()]
    faults, rows = dict.fromkeys(REPORT_KINDS, 0), 0
    if missing:
        catalog = build_catalog(seed, _catalog_size(events_per_day))
        users = build_user_pool(seed, _user_pool_size(events_per_day))
    for path in missing:
        day = date.fromisoformat(path.stem)
        lines, counts = _day_lines(day, seed, events_per_day, fault_rate, catalog, users)
        _write_day(path, lines, day)
        rows += len(lines)
        faults = {kind: faults[kind] + counts[kind] for kind in REPORT_KINDS}
    return GenerationReport(files, rows, faults, len(files) - len(missing))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate the landing files and print a short report."""
    parser = argparse.ArgumentParser(prog="python -m lib.synthetic.generator", description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, type=Path, help="landing folder to write day files into")
    parser.add_argument("--days", type=int, default=31, help="number of days")
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2019, 10, 1), help="first day")
    parser.add_argument("--events-per-day", type=int, default=20_000, help="clean events per day")
    parser.add_argument("--seed", type=int, default=46, help="random seed")
    parser.add_argument("--fault-rate", type=float, default=0.005, help="share of faulty rows")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = generate_landing(args.landing, days=args.days, start_date=args.start_date,
                              events_per_day=args.events_per_day, seed=args.seed, fault_rate=args.fault_rate)
    written = len(report.files) - report.skipped_existing
    existed = report.skipped_existing
    print(f"files: {len(report.files)} in {args.landing} ({written} written, {existed} already there)")
    print(f"rows: {report.rows:,} data lines written")
    print("faults: " + ", ".join(f"{kind}={count:,}" for kind, count in report.faults.items()))
    print(f"seconds: {time.perf_counter() - started:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
