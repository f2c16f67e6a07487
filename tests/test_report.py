"""The HTML report: one offline file, every section, numbers equal to the result's metrics."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chip2grid.report import (
    SECTIONS,
    build_report,
    fmt_number,
    plotly_js,
    render_html,
    write_html_report,
    write_static_charts,
)
from chip2grid.report.charts import MAX_TIMELINE_POINTS, cost_items_usd_per_mtok, downsample_max
from chip2grid.scenario import ScenarioResult, evaluate, load_scenario

BOTTLENECK: dict[str, Any] = {
    "binding_layer": "compute",
    "layers": [
        {
            "name": "compute",
            "label": "Accelerator compute",
            "utilization_frac": 0.91,
            "headroom_frac": 0.09,
            "evidence": "91% of peak",
            "analyst_layer": "GPU compute",
            "resolution_timeline": "2026",
            "key_companies": ["NVIDIA", "AMD"],
        },
        {
            "name": "site_power",
            "label": "Site power",
            "utilization_frac": None,
            "headroom_frac": None,
            "evidence": "no cap",
            "analyst_layer": "power",
            "resolution_timeline": "",
            "key_companies": [],
        },
    ],
    "cascade": [
        {
            "step": 1,
            "relaxed_layer": "compute",
            "action": "2x compute",
            "binding_layer_after": "hbm_bandwidth",
            "output_tokens_per_s_before": 1000.0,
            "output_tokens_per_s_after": 1600.0,
            "cost_usd_per_mtok_before": 0.5,
            "cost_usd_per_mtok_after": 0.35,
        },
    ],
    "sensitivities": [
        {
            "input": "electricity price",
            "metric": "cost",
            "elasticity": 0.1,
            "low": 0.9,
            "high": 1.1,
        },
        {
            "input": "accelerator price",
            "metric": "cost",
            "elasticity": 0.6,
            "low": 0.6,
            "high": 1.4,
        },
    ],
}
INDUSTRY = [
    {
        "year": 2025 + i,
        "binding_layer": ("packaging", "hbm", "power")[i % 3],
        "accelerators_deployed": 1e6 * (i + 1),
        "power_gw": 10.0 + i,
        "cost_usd_per_mtok": 2.0 / (i + 1),
        "inference_share_frac": 0.4 + 0.05 * i,
    }
    for i in range(4)
]


@pytest.fixture(scope="module")
def simulated() -> ScenarioResult:
    return evaluate(load_scenario("default"), simulate=True)


@pytest.fixture(scope="module")
def html(simulated: ScenarioResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    report = build_report(simulated, bottleneck=BOTTLENECK, industry_years=INDUSTRY)
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_html_report(report, path)
    return path.read_text(encoding="utf-8")


def test_one_offline_file_with_plotly_inline(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(
        r"<(script|link|img|iframe)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I
    )
    assert plotly_js()[:2000] in html
    assert html.count("<script") == 2  # the bundle and the figures, both inline


def test_no_cell_reads_nan(html: str) -> None:
    """A layer without a limit (no rack or site cap set) shows '-', as the CLI table does."""
    assert not re.search(r"<td>\s*-?nan%?\s*</td>", html, re.I)
    assert 'data-key="site_power"><td>Site power</td><td>-</td><td>-</td>' in html


def test_every_section_title(html: str) -> None:
    for section_id, title, _ in SECTIONS:
        assert f'<section id="{section_id}">' in html
        assert f"<h2>{title}</h2>" in html


def test_numbers_match_metrics(simulated: ScenarioResult, html: str) -> None:
    metrics = simulated.metrics()
    shown = dict(re.findall(r'data-metric="([a-z0-9_]+)" data-value="([^"]+)"', html))
    assert {
        "cost_usd_per_mtok_output",
        "capacity_output_tokens_per_s",
        "pue",
        "sim_ttft_s_p99",
    } <= set(shown)
    assert set(metrics) <= set(shown)
    for key, text in shown.items():
        value = float(text)
        assert value == metrics[key] or (math.isnan(value) and math.isnan(metrics[key])), key
    # the card's text is the formatted metric
    card = re.search(r'data-metric="pue" data-value="[^"]+">([^<]+)', html)
    assert card is not None and card.group(1).strip() == fmt_number(metrics["pue"])


def test_cost_stack_adds_up(simulated: ScenarioResult) -> None:
    for cost in (simulated.cost_at_load, simulated.cost_at_capacity):
        items = cost_items_usd_per_mtok(cost)
        assert sum(items.values()) == pytest.approx(float(cost.breakdown.usd_per_mtok_output))


def test_sections_say_why_when_inputs_missing() -> None:
    result = evaluate(load_scenario("default"), simulate=False)
    report = build_report(result)
    missing = {s.id for s in report.sections if not s.available}
    assert missing == {"distributions", "timelines", "bottleneck", "tornado", "industry"}
    text = render_html(report)
    assert "Not simulated" in text and "No bottleneck map" in text


def test_chart_contents(simulated: ScenarioResult) -> None:
    report = build_report(simulated, bottleneck=BOTTLENECK, industry_years=INDUSTRY)
    charts = {c.id: c for c in report.charts}
    for chart_id in ("kv_cache_timeline", "batch_timeline"):
        assert 0 < charts[chart_id].num_points <= MAX_TIMELINE_POINTS
    kv_peak = max(max(float(v) for v in s.y) for s in charts["kv_cache_timeline"].series)
    assert kv_peak == pytest.approx(
        simulated.simulation_summary()["kv_cache_peak_frac"],  # type: ignore[index]
        rel=1e-6,
    )
    pareto = [p for p in charts["pareto"].series if p.name == "this scenario"]
    assert len(pareto) == 1
    assert pareto[0].x[0] == pytest.approx(simulated.capacity.tpot_s_mean * 1e3)
    curve = charts["latency_throughput"].series[0]
    assert curve.x[-1] == pytest.approx(simulated.capacity.output_tokens_per_s)
    assert list(curve.x) == sorted(curve.x)  # throughput grows with the request rate
    tornado = charts["tornado"].series[0]
    assert tornado.y[-1] == "accelerator price -> cost"  # largest swing on top
    assert charts["pue_by_month"].num_points == 24


def test_downsample_keeps_peaks() -> None:
    import numpy as np

    x = np.arange(10_000, dtype=float)
    y = np.zeros(10_000)
    y[7_777] = 5.0
    dx, dy = downsample_max(x, y, 100)
    assert len(dx) == 100 and dy.max() == 5.0


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<svg")])
def test_static_charts(simulated: ScenarioResult, tmp_path: Path, fmt: str, magic: bytes) -> None:
    report = build_report(simulated, bottleneck=BOTTLENECK, industry_years=INDUSTRY)
    files = write_static_charts(report, tmp_path, fmt)
    assert [f.stem for f in files] == [c.id for c in report.charts]
    for path in files:
        data = path.read_bytes()
        assert magic in data[:400] if fmt == "svg" else data.startswith(magic)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_no_temp_file(simulated: ScenarioResult, tmp_path: Path) -> None:
    report = build_report(simulated)
    target = tmp_path / "sub" / "r.html"
    target.parent.mkdir()
    target.write_text("old")
    write_html_report(report, target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]


def test_run_writes_report_through_the_cli(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("chip2grid")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "chip2grid"]
    proc = subprocess.run(
        [
            *cmd,
            "run",
            "--no-simulate",
            "--charts",
            str(tmp_path / "charts"),
            "--charts-format",
            "svg",
            "--industry",
            "baseline",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = tmp_path / "chip2grid-report.html"
    text = report.read_text(encoding="utf-8")
    assert "<h2>Industry time map</h2>" in text and 'id="chart-industry_binding"' in text
    assert (tmp_path / "charts" / "cost_breakdown.svg").is_file()
    bad = subprocess.run(
        [*cmd, "run", "--no-report", "--report", "x.html"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "--report" in bad.stderr
