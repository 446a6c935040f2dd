"""Per-page script-run time of the dashboard on a lake (a benchmark, not a test).

    .venv/bin/python tests/dashboard/bench_pages.py LAKE [--runs N]

"cold" is the first run of a page after start (tables read, results cached); "warm" is the
median of N reruns with nothing changed, which is what each interaction costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = ("overview", "daily_sales", "conversion_funnel", "customers", "products", "data_quality", "pipeline_runs")


def timed(app: AppTest) -> float:
    start = time.perf_counter()
    app.run()
    if app.exception:
        raise RuntimeError(app.exception[0].value)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["LAKE_DIR"] = str(args.lake.resolve())
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.run()  # imports and the entry file's first reads
    print(f"{'page':<20}{'cold s':>9}{'warm s':>9}")
    for page in PAGES:
        app.switch_page(f"views/{page}.py")
        cold = timed(app)
        warm = statistics.median(timed(app) for _ in range(args.runs))
        print(f"{page:<20}{cold:>9.3f}{warm:>9.3f}")


if __name__ == "__main__":
    main()
