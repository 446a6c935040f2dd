"""One real browser pass: every page of the served app draws its main chart and no exception."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Daily sales first: a deep link straight after start must still run the entry file (filters, navigation).
PAGES = ("daily_sales", "overview", "conversion_funnel", "customers", "products", "data_quality", "pipeline_runs")
WITH_DATE_FILTER = {"daily_sales", "overview", "conversion_funnel"}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.mark.end_to_end
@pytest.mark.browser
def test_every_page_renders_its_chart_in_chromium(served_app: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser`)")
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        try:
            for name in PAGES:
                path = "" if name == "overview" else name
                page.set_viewport_size({"width": 1440, "height": 1000})
                page.goto(f"{served_app}/{path}", wait_until="domcontentloaded")
                chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot svg.main-svg').first
                chart.wait_for(state="visible", timeout=30_000)
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
                )
                # The main area scrolls inside the window: grow the window to the page to shoot all of it.
                height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
                page.set_viewport_size({"width": 1440, "height": min(max(int(height), 1000), 8000)})
                page.wait_for_timeout(800)  # let every chart draw at the new size
                page.screenshot(path=str(shots / f"{PAGES.index(name) + 1:02d}_{name}.png"), full_page=True)
                errors = page.locator('[data-testid="stException"]')
                assert errors.count() == 0, f"{name}: {errors.first.inner_text()}"
                assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1, name
                sidebar = page.locator('[data-testid="stSidebar"]')
                assert "Pipeline runs" in sidebar.inner_text(), f"{name}: not the app's navigation"
                assert sidebar.locator('[data-testid="stDateInput"]').count() == (name in WITH_DATE_FILTER), name
        finally:
            browser.close()
