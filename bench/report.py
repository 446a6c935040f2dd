"""The benchmark's results as a markdown report and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from bench.notes import READING_NOTES, TUNING_NOTES

LAYERS = ("bronze", "silver", "gold")
DASHBOARD_PAGES = ("overview", "daily_sales", "conversion_funnel", "customers", "products", "data_quality",
                   "pipeline_runs")


def layer_seconds(step: dict) -> str:
    seconds = step["seconds"]
    return ", ".join(f"{layer} {seconds[layer]:,.1f}" for layer in LAYERS) + f" = {seconds['total']:,.1f} s"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:,.1f}×" if denominator else "–"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def step_row(label: str, step: dict) -> list[str]:
    seconds = step["seconds"]
    start = seconds.get("spark_start")
    return [label, f"{start:,.1f}" if start is not None else "–", *[f"{seconds[layer]:,.1f}" for layer in LAYERS],
            f"{seconds['total']:,.1f}", f"{step['process_seconds']:,.1f}",
            f"{step['peak_jvm_mib']:,.0f}" if step["peak_jvm_mib"] else "–", f"{step['peak_python_mib']:,.0f}"]


def ratio_row(label: str, ours: dict, theirs: dict) -> list[str]:
    """Each layer's, the three layers' and the whole process's seconds of one step divided by another's."""
    seconds = [ratio(ours["seconds"][k], theirs["seconds"][k]) for k in (*LAYERS, "total")]
    return ["", f"**{label}**", "", *[f"**{cell}**" for cell in seconds],
            f"**{ratio(ours['process_seconds'], theirs['process_seconds'])}**", "", ""]


COUNTS = ("bronze", "silver", "quarantined", "duplicates")


def counts_line(result: dict) -> str:
    """The row counts of one size, and which step's differ from the pipeline's."""
    ours = result["pipeline"]["counts"]
    others = {"DuckDB": result["reference"]["counts"]}
    if "plain_spark" in result:
        others["plain PySpark"] = result["plain_spark"]["counts"]
    differing = [f"{name} {counts}" for name, counts in others.items() if counts != ours]
    agreement = (f" in the pipeline; {', '.join(differing)}: **they differ**." if differing
                 else " in all three." if len(others) > 1 else " in both.")
    return (f"- {result['rows']:,} rows ({result['lines']:,} lines): bronze / silver / quarantined / duplicates = "
            + " / ".join(f"{ours[k]:,}" for k in COUNTS) + agreement)


PLAIN_SPARK_NOTE = [
    "The plain PySpark job (`bench/plain_spark.py`) is what a Spark user writes in an afternoon: Spark's CSV",
    "reader with a schema and its corrupt-record column, Parquet files, `dropDuplicates` and `groupBy`",
    "aggregates for the same four gold tables, on a session with the pipeline's master, driver memory",
    "and shuffle partitions. It has no Delta log or change feed, no quarantine table or reasons, no",
    "data-quality metrics, no run ledger, lock or recovery, and keeps any one row of a duplicated key:",
    "*pipeline ÷ plain PySpark* is what those cost on the same engine.",
    "",
]


def full_run_section(results: list[dict]) -> list[str]:
    header = ["rows", "", "session start s", "bronze s", "silver s", "gold s", "three layers s", "whole process s",
              "peak JVM MiB", "peak Python MiB"]
    rows = []
    for result in results:
        pipeline, reference, plain = result["pipeline"], result["reference"], result.get("plain_spark")
        rows.append([f"{result['rows']:,}", *step_row("Spark + Delta pipeline", pipeline)])
        if plain:
            rows.append(["", *step_row("plain PySpark job", plain)])
        rows.append(["", *step_row("DuckDB reference", reference)])
        if plain:
            rows.append(ratio_row("pipeline ÷ plain PySpark", pipeline, plain))
        rows.append(ratio_row("pipeline ÷ DuckDB", pipeline, reference))
    separate = [
        f"- {result['rows']:,} rows were measured in a run of their own ({result['separate_run']['date']}, "
        f"load average {result['separate_run']['load_before']} before and {result['separate_run']['load_after']} "
        f"after): {result['separate_run']['command']}"
        for result in results if "separate_run" in result
    ]
    with_plain = any("plain_spark" in result for result in results)
    return [
        "## The full pipeline against plain PySpark and DuckDB" if with_plain else "## The full pipeline against DuckDB",
        "",
        "Each engine on the same 31 landing files, into an empty lake (Delta tables), an empty folder",
        "(Parquet) or an empty DuckDB file. *Session start* is the Spark session's, before the layers;",
        "*three layers* is the sum of the layers' own times; *whole process* adds starting Python, the JVM",
        "and the Spark session (for DuckDB, importing it). Peak memory is the resident set of the process",
        "and its children, sampled every 0.5 s (DuckDB runs inside the Python process).",
        "",
        *(PLAIN_SPARK_NOTE if with_plain else []),
        *table(header, rows),
        "",
        "Row counts of the same run:",
        "",
        *map(counts_line, results),
        *separate,
        "",
    ]


def runner_section(results: list[dict]) -> list[str]:
    measured = [r for r in results if "runner" in r]
    if not measured:
        return []
    rows = []
    for r in measured:
        for key, label in (("runner", "a kernel per notebook"), ("runner_one_kernel", "`--one-kernel`")):
            if key in r:
                run = r[key]
                rows.append([f"{r['rows']:,}" if key == "runner" else "", label, f"{run['process_seconds']:,.1f}",
                             ratio(run["process_seconds"], r["pipeline"]["process_seconds"]),
                             f"{run['peak_jvm_mib']:,.0f}", f"{run['peak_python_mib']:,.0f}"])
    return [
        "## End to end through the notebooks",
        "",
        "`python -m lib.orchestration.runner` as `make run` runs it, without generating input: papermill executes the",
        "three notebooks in turn, each in its own kernel with its own JVM, and keeps the executed notebooks.",
        "With `--one-kernel` the three run in one kernel, so the JVM starts and warms up once.",
        "",
        *table(["rows", "", "seconds", "÷ the in-process run", "peak JVM MiB", "peak Python MiB"], rows),
        "",
    ]


def incremental_section(results: list[dict]) -> list[str]:
    measured = [r for r in results if "incremental" in r]
    if not measured:
        return []
    rows = []
    for r in measured:
        new_day, rebuild = r["incremental"]["seconds"], r["rebuild"]["seconds"]
        rows.append([f"{r['rows']:,}", "one new day, into the existing lake",
                     *[f"{new_day[k]:,.1f}" for k in (*LAYERS, "total")]])
        rows.append(["", f"all {r['days'] + 1} days, into a fresh lake", *[f"{rebuild[k]:,.1f}" for k in (*LAYERS, "total")]])
        rows.append(["", "**new day ÷ rebuild**", *[f"**{ratio(new_day[k], rebuild[k])}**" for k in (*LAYERS, "total")]])
        if "nothing_new" in r:
            nothing = r["nothing_new"]["seconds"]
            rows.append(["", "nothing new, the same lake again", *[f"{nothing[k]:,.1f}" for k in (*LAYERS, "total")]])
    scheduled = [
        f"- {r['rows']:,} rows: `python -m lib.orchestration.schedule` with nothing new took "
        f"{r['nothing_new_schedule']['process_seconds']:,.1f} s, the whole process (the notebooks in one kernel, "
        f"its JVM's start included, no maintenance)."
        for r in measured if "nothing_new_schedule" in r
    ]
    return [
        "## A new day: incremental run against a full rebuild",
        "",
        f"The generator adds day {measured[0]['days'] + 1}; bronze ingests only the new file and silver only the rows",
        "bronze gained (its change feed), merging them into the new day's partition of silver; gold adds",
        "the new events (silver's change feed) to its tables with its state (the distinct pairs it keeps),",
        "reads silver only for the dates they fall on, and derives ranks, RFM scores, 7-day averages and",
        "day-over-day changes again over the gold tables. Then the same three layers run once more with",
        "nothing new landed, as cron runs them when no file has come.",
        "",
        *table(["rows", "", "bronze s", "silver s", "gold s", "three layers s"], rows),
        "",
        *([*scheduled, ""] if scheduled else []),
    ]


def dashboard_section(results: list[dict]) -> list[str]:
    measured = [r for r in results if r.get("dashboard", {}).get("pages")]
    if not measured:
        return []
    header = ["page", *[f"{r['rows']:,} rows: cold s / warm s" for r in measured]]
    rows = [[page, *[f"{r['dashboard']['pages'][page]['cold']:.2f} / {r['dashboard']['pages'][page]['warm']:.2f}"
                     for r in measured]] for page in DASHBOARD_PAGES if page in measured[0]["dashboard"]["pages"]]
    return [
        "## Dashboard pages",
        "",
        "Script-run time of each page under Streamlit's AppTest on the lake after the new day",
        "(`tests/dashboard/bench_pages.py`): *cold* is the first run after start (tables read, results",
        "cached), *warm* the median of reruns with nothing changed, which is what each click costs.",
        "The overview is the entry page, so the app's first run has already read its tables.",
        "",
        *table(header, rows),
        "",
    ]


TARGET_RATIO_TO_PLAIN_SPARK = 1.25
TARGET_RATIO_TO_DUCKDB = 3.0  # at October scale
TARGET_NEW_DAY_SHARE = 0.25
TARGET_NOTHING_NEW_SECONDS = 8.0  # the three layers in one process
TARGET_NOTHING_NEW_SCHEDULE_SECONDS = 25.0  # python -m lib.orchestration.schedule, the whole process
TARGET_OCTOBER_SECONDS = 600
# Inputs from this size up are REES46's October (42 M events): run once, kept out of the chart.
OCTOBER_SCALE_ROWS = 40_000_000


def targets_section(results: list[dict]) -> list[str]:
    """Each target of the benchmark against every measured size that it applies to."""
    def verdict(met: bool) -> str:
        return "met" if met else "**not met**"

    rows = []
    for r in results:
        label = f"{r['rows']:,} rows"
        pipeline = r["pipeline"]["seconds"]["total"]
        if "plain_spark" in r:
            plain = r["plain_spark"]["seconds"]["total"]
            rows.append([f"{label}: pipeline ÷ plain PySpark, three layers", f"≤ {TARGET_RATIO_TO_PLAIN_SPARK}×",
                         f"{pipeline / plain:,.2f}×", verdict(pipeline <= TARGET_RATIO_TO_PLAIN_SPARK * plain)])
        if "incremental" in r:
            new_day, rebuild = r["incremental"]["seconds"]["total"], r["rebuild"]["seconds"]["total"]
            rows.append([f"{label}: new day ÷ rebuild", f"≤ {TARGET_NEW_DAY_SHARE:.0%}",
                         f"{new_day / rebuild:.0%}", verdict(new_day <= TARGET_NEW_DAY_SHARE * rebuild)])
        if "nothing_new" in r:
            seconds = r["nothing_new"]["seconds"]["total"]
            rows.append([f"{label}: nothing new, three layers in one process", f"≤ {TARGET_NOTHING_NEW_SECONDS:.0f} s",
                         f"{seconds:,.1f} s", verdict(seconds <= TARGET_NOTHING_NEW_SECONDS)])
        if "nothing_new_schedule" in r:
            seconds = r["nothing_new_schedule"]["process_seconds"]
            rows.append([f"{label}: nothing new, `lib.orchestration.schedule` wall time",
                         f"≤ {TARGET_NOTHING_NEW_SCHEDULE_SECONDS:.0f} s", f"{seconds:,.1f} s",
                         verdict(seconds <= TARGET_NOTHING_NEW_SCHEDULE_SECONDS)])
        if r["rows"] >= OCTOBER_SCALE_ROWS:
            reference = r["reference"]["seconds"]["total"]
            rows.append([f"{label}: pipeline ÷ DuckDB", f"≤ {TARGET_RATIO_TO_DUCKDB:.0f}×",
                         ratio(pipeline, reference), verdict(pipeline <= TARGET_RATIO_TO_DUCKDB * reference)])
            seconds = r["pipeline"]["process_seconds"]
            rows.append([f"{label} (October scale): whole process", f"≤ {TARGET_OCTOBER_SECONDS} s",
                         f"{seconds:,.0f} s, peak JVM {r['pipeline']['peak_jvm_mib']:,.0f} MiB",
                         verdict(seconds <= TARGET_OCTOBER_SECONDS)])
    return ["## Against the targets", "", *table(["", "target", "measured", ""], rows), ""]


def markdown(results: list[dict], context: dict, chart_name: str) -> str:
    m, p = context["machine"], context["params"]
    machine_rows = [
        ["date", m["date"]], ["processor", m["cpu"]], ["memory", m["memory"]], ["system", m["os"]],
        ["Python / Java", f"{m['python']} / {m['java']}"],
        ["PySpark / delta-spark", f"{m['pyspark']} / {m['delta-spark']}"],
        ["DuckDB / Streamlit", f"{m['duckdb']} / {m['streamlit']}"],
        ["Spark settings", f"`{p['spark_master']}`, {p['shuffle_partitions']} shuffle partitions, "
                           f"driver memory {p['driver_memory']}"],
        ["DuckDB settings", "defaults: one thread per core, memory limit 80 % of RAM"],
        ["input", f"generator seed {p['generator_seed']}, fault rate {p['generator_fault_rate']}, "
                  f"events per day = rows ÷ {results[0]['days']}"],
        ["load average (1 / 5 / 15 min)", f"{context['load_before']} before, {context.get('load_after', '?')} after"],
    ]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{context['command']}` (see `bench/run.py`). The DuckDB reference",
        "(`bench/duckdb_reference.py`) implements `docs/definitions.md` again in SQL, reading the files line by line",
        "with the same rescue rules, and `tests/bench/test_duckdb_reference.py` checks that the pipeline's gold",
        "tables agree with it to the cent.",
        "",
        f"![Seconds per layer]({chart_name})",
        "",
        "## Machine",
        "",
        *table(["", ""], machine_rows),
        "",
        *targets_section(results),
        *full_run_section(results),
        *runner_section(results),
        *incremental_section(results),
        *dashboard_section(results),
        *TUNING_NOTES,
        *READING_NOTES,
    ]
    return "\n".join(lines)


def sections(markdown_text: str) -> list[tuple[str, str]]:
    """The document cut at its `## ` headings: (heading line, the section's text), the text before the first
    under the heading ""."""
    found: list[tuple[str, list[str]]] = [("", [])]
    for line in markdown_text.splitlines(keepends=True):
        if line.startswith("## "):
            found.append((line.rstrip("\n"), []))
        found[-1][1].append(line)
    return [(heading, "".join(lines)) for heading, lines in found]


def merge_sections(new: str, old: str, before: str = TUNING_NOTES[0]) -> str:
    """`new`, with each section of `old` whose heading `new` lacks put back before the heading `before` (or at
    the end): what another command wrote into the same document stays when this one writes it again."""
    ours = sections(new)
    headings = {heading for heading, _ in ours}
    kept = "".join(text.rstrip("\n") + "\n\n" for heading, text in sections(old) if heading and heading not in headings)
    if not kept:
        return new
    at = next((i for i, (heading, _) in enumerate(ours) if heading == before), len(ours))
    merged = ["".join(text for _, text in ours[:at]).rstrip("\n") + "\n\n", kept,
              "".join(text for _, text in ours[at:])]
    return "".join(merged).rstrip("\n") + "\n"


def write_chart(results: list[dict], path: Path) -> None:
    """Stacked seconds per layer: pipeline, plain PySpark and DuckDB per size, and new day against rebuild."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    results = [r for r in results if r["rows"] < OCTOBER_SCALE_ROWS] or results
    colors = {"bronze": "#b08d57", "silver": "#a8a9ad", "gold": "#d4af37"}
    panels = [("Full run, 31 days", [("Spark pipeline", "pipeline"), ("plain PySpark", "plain_spark"),
                                     ("DuckDB", "reference")])]
    if any("incremental" in r for r in results):
        panels.append(("A new day", [("New day", "incremental"), ("Rebuild, 32 days", "rebuild")]))
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 1.6 + 0.9 * len(results) * 2), squeeze=False)
    for axis, (title, steps) in zip(axes[0], panels):
        labels, lefts = [], []
        bars = [(f"{r['rows']:,} rows: {label}", r[key]["seconds"]) for r in results for label, key in steps if key in r]
        for position, (label, seconds) in enumerate(reversed(bars)):
            left = 0.0
            for layer in LAYERS:
                axis.barh(position, seconds[layer], left=left, color=colors[layer], label=layer if position == 0 else None)
                left += seconds[layer]
            axis.text(left, position, f" {left:.0f} s", va="center", fontsize=9)
            labels.append(label)
            lefts.append(left)
        axis.set_yticks(range(len(labels)), labels, fontsize=9)
        axis.set_xlim(0, max(lefts) * 1.2)
        axis.set_xlabel("seconds")
        axis.set_title(title)
    handles, names = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncol=len(LAYERS), fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
