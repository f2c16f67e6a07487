"""Workload generators of issue 3: length distributions, diurnal and closed-loop load, the
archetype catalog, Parquet export, and their CLI options."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

import chip2grid as c2g
from chip2grid import InvalidParameterError
from chip2grid.catalog.workload_archetypes import (
    get_workload_archetype,
    list_workload_archetypes,
)
from chip2grid.serving import (
    ARCHETYPES,
    ClosedLoop,
    DiurnalCurve,
    LengthDist,
    archetype_trace,
    diurnal_arrivals,
    lengths_trace,
    parse_diurnal,
    parse_length_dist,
    simulate_closed_loop,
    write_requests,
)
from tests.test_cli import run

N = 40_000


def test_fixed_and_normal_means() -> None:
    rng = np.random.default_rng(1)
    assert set(LengthDist.fixed(77).sample(100, rng)) == {77}
    x = LengthDist.normal(500, 100).sample(N, rng)
    assert abs(x.mean() - 500) < 4 * 100 / math.sqrt(N)
    assert abs(x.std() - 100) < 3
    # heavy truncation at 1: the mean of the normal conditioned on x >= 1 (scipy's truncnorm)
    y = LengthDist.normal(20, 40).sample(N, rng)
    assert y.min() >= 1
    a = (0.5 - 20) / 40  # draws >= 1 round to >= 1; rounding shifts the bound by half a token
    expected = stats.truncnorm.mean((1 - 20) / 40, np.inf, loc=20, scale=40)
    sd = stats.truncnorm.std(a, np.inf, loc=20, scale=40)
    assert abs(y.mean() - expected) < 4 * sd / math.sqrt(N) + 0.5


def test_lognormal_median_and_sigma() -> None:
    x = LengthDist.lognormal(1000, 0.8).sample(N, np.random.default_rng(2))
    # the sample median's standard error: 1.2533 sigma median / sqrt(n) (normal in log space)
    assert abs(np.log(np.median(x)) - np.log(1000)) < 4 * 1.2533 * 0.8 / math.sqrt(N)
    assert np.log(x).std() == pytest.approx(0.8, rel=0.02)
    assert (
        LengthDist.lognormal(1000, 0.8, max_tokens=1500)
        .sample(1000, np.random.default_rng(0))
        .max()
        == 1500
    )


def test_empirical_reproduces_the_file_mean(tmp_path: Path) -> None:
    values = np.random.default_rng(3).integers(1, 5000, 500)
    path = tmp_path / "lengths.csv"
    path.write_text("input_tokens,output_tokens\n" + "".join(f"{v},{v // 3 + 1}\n" for v in values))
    d = parse_length_dist(f"empirical:{path}", "--input-dist")
    x = d.sample(N, np.random.default_rng(4))
    assert set(np.unique(x)) <= set(values.tolist())
    assert abs(x.mean() - values.mean()) < 4 * values.std() / math.sqrt(N)
    out = parse_length_dist(f"empirical:{path}", "--output-dist", column="output")
    assert out.center_tokens == pytest.approx((values // 3 + 1).mean())
    jsonl = tmp_path / "lengths.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"input_length": int(v), "output_length": 5}) + "\n" for v in values)
    )
    assert parse_length_dist(f"empirical:{jsonl}", "x").center_tokens == pytest.approx(
        values.mean()
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("lognorm:5:1", "--input-dist"),
        ("normal:500", "--input-dist"),
        ("normal:0.5:10", "--input-dist mean"),
        ("lognormal:100:-1", "--input-dist sigma"),
        ("fixed:0", "--input-dist"),
        ("empirical:/nonexistent.csv", "lengths file"),
    ],
)
def test_bad_length_specs_name_the_field(text: str, needle: str) -> None:
    with pytest.raises(InvalidParameterError, match=needle):
        parse_length_dist(text, "--input-dist")


def test_diurnal_hourly_counts_follow_the_curve() -> None:
    curve = parse_diurnal("4:15")
    hours = np.linspace(0, 24, 24 * 60, endpoint=False)
    r = curve.relative_rate(hours)
    assert r.max() / r.min() == pytest.approx(4, rel=1e-3)
    assert hours[np.argmax(r)] == pytest.approx(15, abs=0.02)
    assert r.mean() == pytest.approx(1, rel=1e-9)
    day_s = 2400.0
    t = diurnal_arrivals(20.0, curve, 50_000, np.random.default_rng(5), day_s=day_s)
    t = t[t < day_s]
    counts = np.histogram(t, bins=24, range=(0, day_s))[0]
    fine = np.linspace(0, 24, 24 * 600, endpoint=False) + 1 / 1200
    weights = curve.relative_rate(fine).reshape(24, 600).mean(axis=1)
    expected = len(t) * weights / weights.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.ppf(0.9999, 23)
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))
    assert len(t) == pytest.approx(20.0 * day_s, rel=4 / math.sqrt(20.0 * day_s))


def test_piecewise_linear_diurnal_curve() -> None:
    points = tuple([1.0] * 12 + [3.0] * 12)
    curve = DiurnalCurve(hourly_rates=points)
    assert curve.relative_rate(np.array([6.0, 18.0, 11.5])) == pytest.approx(
        np.array([0.5, 1.5, 1.0])
    )
    with pytest.raises(InvalidParameterError, match="diurnal hourly_rates"):
        DiurnalCurve(hourly_rates=(1.0,) * 23)
    with pytest.raises(InvalidParameterError, match="peak_to_trough"):
        DiurnalCurve(peak_to_trough=0.5)


def _deployment() -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=2,
        tp=1,
        pp=1,
        ep=1,
        weight_precision="fp8",
        kv_precision="fp8",
        engine="vllm",
    )


def test_closed_loop_concurrency_and_littles_law() -> None:
    users = 6
    trace = lengths_trace(1200, 1.0, LengthDist.fixed(400), LengthDist.lognormal(40, 0.5), seed=3)
    out = simulate_closed_loop(
        _deployment(),
        trace,
        ClosedLoop(num_users=users, think_time_s=0.3),
        router="least-outstanding",
        seed=7,
    )
    s = out.serving
    arrival = np.concatenate([r.arrival_s for r in s.replicas])
    finish = np.concatenate([r.finish_s for r in s.replicas])
    assert np.isfinite(finish).all() and s.num_requests == 1200
    events = np.concatenate(
        [np.c_[arrival, np.ones_like(arrival)], np.c_[finish, -np.ones_like(finish)]]
    )
    events = events[np.lexsort((events[:, 1], events[:, 0]))]  # completions first at a tie
    in_flight = np.cumsum(events[:, 1])
    assert in_flight.max() == users
    # Little's law for the closed system: N = X (R + Z)
    throughput = len(finish) / (finish.max() - 0.0)
    cycle = float(np.mean(finish - arrival)) + float(np.mean(out.think_s))
    assert throughput * cycle == pytest.approx(users, rel=0.02)
    assert out.summary()["closed_loop"]["num_users"] == users  # type: ignore[index]


def test_closed_loop_is_deterministic_and_validates() -> None:
    trace = lengths_trace(100, 1.0, LengthDist.fixed(100), LengthDist.fixed(20), seed=0)
    dep = _deployment()
    a = simulate_closed_loop(dep, trace, ClosedLoop(num_users=3, think_time_s=1.0), seed=2)
    b = simulate_closed_loop(dep, trace, ClosedLoop(num_users=3, think_time_s=1.0), seed=2)
    assert np.array_equal(a.serving.e2e_latency_s, b.serving.e2e_latency_s)
    with pytest.raises(InvalidParameterError, match="num_users"):
        ClosedLoop(num_users=0)
    with pytest.raises(InvalidParameterError, match="think_time_s"):
        ClosedLoop(num_users=1, think_time_s=-1)


def test_catalog_every_figure_has_a_source() -> None:
    names = list_workload_archetypes()
    assert set(names) == set(ARCHETYPES) - {"fixed"}
    for name in names:
        entry = get_workload_archetype(name)
        assert entry.source.strip()
        assert entry.given and all(entry.sources[f].strip() for f in entry.given)
        for f in entry.estimated_fields:
            assert "estimate" in entry.sources[f]


def test_reasoning_generates_thousands_and_rag_reads_thousands() -> None:
    reasoning = archetype_trace("reasoning", 4000, 1.0, seed=0)
    rag = archetype_trace("rag", 4000, 1.0, seed=0)
    assert np.median(reasoning.output_tokens) == pytest.approx(2194, rel=0.05)
    assert np.median(rag.input_tokens) == pytest.approx(4096, rel=0.05)
    assert reasoning.output_tokens.max() <= 32768


def test_archetypes_same_seed_same_trace_and_overrides() -> None:
    for name in ("chat", "code", "rag", "reasoning", "agent", "batch"):
        a = archetype_trace(name, 300, 2.0, seed=11)
        b = archetype_trace(name, 300, 2.0, seed=11)
        c = archetype_trace(name, 300, 2.0, seed=12)
        assert np.array_equal(a.arrival_s, b.arrival_s)
        assert np.array_equal(a.input_tokens, b.input_tokens)
        assert not np.array_equal(a.input_tokens, c.input_tokens)
    batch = archetype_trace("batch", 1000, 2.0, batch_size=250)
    assert len(np.unique(batch.arrival_s)) == 4
    fixed = archetype_trace("chat", 50, 2.0, input_dist=LengthDist.fixed(9))
    assert set(fixed.input_tokens) == {9}


def test_archetype_bad_inputs_name_the_field() -> None:
    with pytest.raises(LookupError, match="chatbot"):
        archetype_trace("chatbot", 10, 1.0)
    with pytest.raises(InvalidParameterError, match="turns_per_session"):
        archetype_trace("chat", 10, 1.0, turns_per_session=3)
    with pytest.raises(InvalidParameterError, match="input_dist"):
        archetype_trace("agent", 10, 1.0, input_dist=LengthDist.fixed(3))
    with pytest.raises(InvalidParameterError, match="diurnal"):
        archetype_trace("chat", 10, 1.0, burstiness_cv=2.0, diurnal=DiurnalCurve())
    with pytest.raises(InvalidParameterError, match="request_rate_per_s"):
        archetype_trace("chat", 10, 0.0)


def test_parquet_and_csv_exports_agree(tmp_path: Path) -> None:
    trace = lengths_trace(60, 5.0, LengthDist.fixed(200), LengthDist.fixed(30), seed=0)
    result = c2g.simulate(_deployment(), trace)
    pq, cs = tmp_path / "r.parquet", tmp_path / "r.csv"
    assert write_requests(result, pq) == write_requests(result, cs) == 60
    con = duckdb.connect()
    a = con.sql(f"SELECT ttft_s, output_tokens FROM '{pq}' ORDER BY replica, request").fetchall()
    b = con.sql(
        f"SELECT ttft_s, output_tokens FROM read_csv('{cs}') ORDER BY replica, request"
    ).fetchall()
    assert [x[1] for x in a] == [x[1] for x in b] == [30] * 60
    assert [x[0] for x in a] == pytest.approx([x[0] for x in b], rel=1e-8)
    with pytest.raises(InvalidParameterError, match="path"):
        write_requests(result, tmp_path / "r.txt")
    assert not list(tmp_path.glob(".*"))


BASE = [
    "simulate",
    "--model",
    "llama-3.1-8b",
    "--accelerator",
    "h100-sxm",
    "--num-accelerators",
    "1",
    "--tp",
    "1",
    "--num-requests",
    "60",
    "--request-rate",
    "2",
    "--json",
]


@pytest.mark.parametrize("name", ARCHETYPES)
def test_cli_runs_every_archetype(name: str) -> None:
    proc = run(*BASE, "--archetype", name)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["num_requests"] == 60
    assert (name if name != "fixed" else "synthetic") in data["trace"]


def test_cli_closed_loop_diurnal_dists_and_parquet(tmp_path: Path) -> None:
    out = tmp_path / "req.parquet"
    proc = run(
        *BASE,
        "--archetype",
        "chat",
        "--closed-loop-users",
        "4",
        "--think-time",
        "0.5",
        "--export-requests",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["closed_loop"]["num_users"] == 4 and data["requests_parquet"] == str(out)
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall() == [(60,)]
    proc = run(
        *BASE,
        "--input-dist",
        "lognormal:300:0.5",
        "--output-dist",
        "normal:50:10",
        "--diurnal",
        "3:12",
        "--day-length-s",
        "60",
    )
    assert proc.returncode == 0, proc.stderr
    assert "diurnal (peak/trough 3 at 12 h)" in json.loads(proc.stdout)["trace"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--input-dist", "gauss:3"], "--input-dist"),
        (["--output-dist", "normal:x:1"], "--output-dist"),
        (["--diurnal", "0.5"], "--diurnal"),
        (["--closed-loop-users", "0"], "--closed-loop-users"),
        (["--think-time", "2"], "--think-time"),
        (["--archetype", "agent", "--closed-loop-users", "3"], "--closed-loop-users"),
        (["--export-requests", "x.xlsx"], "--export-requests"),
        (["--input-dist", "100", "--input-tokens", "5"], "--input-dist"),
        (["--diurnal", "2", "--burstiness-cv", "3"], "--burstiness-cv"),
    ],
)
def test_cli_bad_workload_options_name_the_option(args: list[str], needle: str) -> None:
    proc = run(*BASE, *args)
    assert proc.returncode == 2, proc.stdout
    assert needle in proc.stderr and "Traceback" not in proc.stderr
