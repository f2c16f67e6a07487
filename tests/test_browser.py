"""End to end in Debian's chromium: the dashboard runs the default scenario and draws its charts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install -y chromium); CI installs it",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
pytest.importorskip("fastapi", reason="the web extra is not installed")

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from chip2grid.report import fmt_number  # noqa: E402
from chip2grid.web import create_app  # noqa: E402
from tests.test_web import serve_in_thread  # noqa: E402

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def base_url() -> object:
    server, thread, base = serve_in_thread(create_app())
    yield base
    server.should_exit = True
    thread.join(timeout=10)


def test_dashboard_runs_default_scenario(base_url: str, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            start = time.perf_counter()
            page.goto(base_url + "/", wait_until="load")
            first_load_s = time.perf_counter() - start
            page.wait_for_function("document.getElementById('f-num_accelerators').value !== ''")
            assert page.input_value("#f-accelerator") == "h200-sxm"
            assert not page.is_checked("#f-simulate")
            page.click("#run")
            page.wait_for_selector("#chart-pareto .main-svg", timeout=60_000)
            plots = page.locator(".js-plotly-plot")
            assert plots.count() >= 5
            for i in range(plots.count()):
                assert plots.nth(i).locator("svg.main-svg").count() >= 1
            # the bars of the cost chart were drawn
            assert page.locator("#chart-cost_breakdown .bars path").count() > 0
            api = httpx.post(
                base_url + "/api/evaluate", json={"scenario": {}, "simulate": False}, timeout=60
            ).json()
            cards = page.locator("#summary .value")
            assert cards.count() >= 8
            for i in range(cards.count()):
                card = cards.nth(i)
                key = card.get_attribute("data-metric")
                assert key is not None
                assert float(card.get_attribute("data-value") or "nan") == api["metrics"][key]
                assert card.inner_text().split(" ")[0] == fmt_number(api["metrics"][key])
            assert page.is_enabled("#download-report")
            # the layout line carries the validated throughput error of runs like this one
            assert "validated throughput error" in page.inner_text("#layout-line")
            # a bad value is reported with its field name, not a crash
            page.fill("#f-ttft_s", "0")  # allowed by the form (min 0), refused by the schema
            page.click("#run")
            page.wait_for_selector("#error:not([hidden])")
            assert "ttft_s" in page.inner_text("#error")
            page.fill("#f-ttft_s", "2")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=False)
            assert (tmp_path / "dashboard.png").stat().st_size > 10_000
            assert not failed, failed
            assert first_load_s < 5.0  # the page itself; measured figures in the docs
        finally:
            browser.close()
