"""Sweep specs, the DuckDB store (resume after SIGKILL, no duplicates), queries and Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from chip2grid.errors import InvalidParameterError, UnknownEntryError
from chip2grid.sweep import (
    ResultStore,
    SweepSpec,
    check_fields,
    expand_points,
    export_query,
    parse_grid,
    parse_random,
    query_store,
    run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["deployment.num_accelerators", "site.region", "finance.wacc_frac"]


def toy_point(overrides: dict[str, object]) -> dict[str, float]:
    """A stand-in for the scenario: cost falls with accelerators, rises with the WACC; an
    unknown region is a Chip2GridError (an error row)."""
    region = str(overrides.get("site.region", "us-virginia"))
    if region == "atlantis":
        raise UnknownEntryError("region", region, ["us-virginia", "us-texas"])
    n = float(overrides.get("deployment.num_accelerators", 8))  # type: ignore[arg-type]
    wacc = float(overrides.get("finance.wacc_frac", 0.08))  # type: ignore[arg-type]
    price = {"us-virginia": 1.0, "us-texas": 0.8}[region]
    return {"cost_usd_per_mtok_output": price * (1 + wacc) * 8 / n, "output_tokens_per_s": 100 * n}


def slow_toy_point(overrides: dict[str, object]) -> dict[str, float]:
    time.sleep(0.02)
    return toy_point(overrides)


def test_grid_and_random_expansion_is_deterministic() -> None:
    spec = SweepSpec(
        grid=(parse_grid("deployment.num_accelerators=8,16"), parse_grid("site.region=a,b,c")),
        random=(parse_random("finance.wacc_frac=0.06:0.12"),),
        num_samples=4,
        seed=3,
    )
    points = expand_points(spec, "base")
    assert len(points) == 2 * 3 * 4
    assert len({p.point_id for p in points}) == len(points)
    assert points == expand_points(spec, "base")
    assert points != expand_points(spec, "other base")
    waccs = [p.as_dict()["finance.wacc_frac"] for p in points]
    assert all(0.06 <= float(w) <= 0.12 for w in waccs)  # type: ignore[arg-type]
    assert points[0].as_dict()["deployment.num_accelerators"] == 8
    log_axis = parse_random("workload.input_tokens=log:10:1000")
    assert log_axis.log
    ints = expand_points(
        SweepSpec(random=(parse_random("x=int:1:3"),), num_samples=50, seed=1), "b"
    )
    assert {p.as_dict()["x"] for p in ints} <= {1, 2, 3}


@pytest.mark.parametrize(
    ("text", "parser"),
    [("nofield", parse_grid), ("x=", parse_grid), ("x=1:a", parse_random), ("x=3:1", parse_random)],
)
def test_bad_axes(text: str, parser: object) -> None:
    with pytest.raises(InvalidParameterError):
        parser(text)  # type: ignore[operator]


def test_unknown_field_lists_close_matches() -> None:
    with pytest.raises(
        UnknownEntryError, match=r"deployment.num_acelerators.*closest: deployment.num_accelerators"
    ):
        check_fields(["deployment.num_acelerators"], FIELDS)


def test_store_query_group_export_and_errors(tmp_path: Path) -> None:
    store = tmp_path / "r.duckdb"
    spec = SweepSpec(
        grid=(
            parse_grid("deployment.num_accelerators=8,16"),
            parse_grid("site.region=us-virginia,us-texas,atlantis"),
        )
    )
    summary = run_sweep(spec, store, point_function=toy_point, known_fields=FIELDS, workers=1)
    assert (summary.num_points, summary.num_ok, summary.num_errors) == (6, 4, 2)
    with ResultStore(store, read_only=True) as db:
        assert db.count() == 6
        cheap = query_store(db, where="cost_usd_per_mtok_output < 0.6 and status = 'ok'")
        col = cheap.columns.index("cost_usd_per_mtok_output")
        assert len(cheap.rows) == 2 and all(r[col] < 0.6 for r in cheap.rows)
        errs = query_store(db, where="status = 'error'", columns=["site.region", "error"])
        assert {r[0] for r in errs.rows} == {"atlantis"}
        assert all("atlantis" in str(r[1]) for r in errs.rows)
        grouped = query_store(db, where="status = 'ok'", group_by="site.region", agg="mean")
        means = {r[0]: r[grouped.columns.index("cost_usd_per_mtok_output")] for r in grouped.rows}
        assert means["us-texas"] == pytest.approx(0.8 * 1.08 * 0.75)
        top = query_store(db, sort="-output_tokens_per_s", limit=1, where="status = 'ok'")
        assert top.rows[0][top.columns.index("output_tokens_per_s")] == 1600
        for out in (tmp_path / "r.parquet", tmp_path / "r.csv"):
            assert export_query(db, out, where="status = 'ok'") == 4
        con = duckdb.connect()
        assert con.execute(f"SELECT count(*) FROM '{tmp_path / 'r.parquet'}'").fetchone() == (4,)


@pytest.mark.parametrize(
    "where",
    [
        "1=1; DROP TABLE points",
        "status = 'ok' OR 1=1",
        "cost_usd_per_mtok_output < 1) UNION SELECT * FROM columns --",
        '"status"" = 1',
        "nosuchcolumn < 1",
        "status = ok",
        "cost_usd_per_mtok_output < (SELECT 1)",
    ],
)
def test_injection_is_rejected(tmp_path: Path, where: str) -> None:
    store = tmp_path / "r.duckdb"
    spec = SweepSpec(grid=(parse_grid("deployment.num_accelerators=8,16"),))
    run_sweep(spec, store, point_function=toy_point, workers=1)
    with ResultStore(store, read_only=True) as db, pytest.raises(InvalidParameterError):
        query_store(db, where=where)
    with ResultStore(store, read_only=True) as db:
        assert db.count() == 2
        with pytest.raises(InvalidParameterError):
            query_store(db, group_by="x; DROP TABLE points")
        with pytest.raises(InvalidParameterError):
            query_store(db, sort="point_id; DROP TABLE points")


def _sweep_cmd(store: Path, n: int) -> list[str]:
    return [
        sys.executable, "-m", "chip2grid", "sweep",
        "--random", "finance.wacc_frac=0.06:0.12", "--samples", str(n), "--seed", "7",
        "--store", str(store), "--workers", "2", "--batch-size", "20",
        "--point-function", "tests.test_sweep:slow_toy_point", "--json",
    ]  # fmt: skip


def test_resume_after_sigkill(tmp_path: Path) -> None:
    n = 400
    store = tmp_path / "kill.duckdb"
    proc = subprocess.Popen(
        [*_sweep_cmd(store, n), "--progress"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    committed = 0
    for line in proc.stderr:  # "committed N/M" after every transaction
        if line.startswith("committed "):
            committed = int(line.split()[1].split("/")[0])
            if committed >= 100:
                break
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    with ResultStore(store, read_only=True) as db:
        partial = db.count()
    assert committed <= partial < n
    done = subprocess.run(
        _sweep_cmd(store, n), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with ResultStore(store, read_only=True) as db:
        con = db.connection
        assert con.execute("SELECT count(*), count(DISTINCT point_id) FROM points").fetchone() == (
            n,
            n,
        )
    import json

    summary = json.loads(done.stdout)
    assert summary["num_skipped"] == partial and summary["num_rows"] == n


def test_unreachable_ray_address_fails_fast(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = SweepSpec(grid=(parse_grid("deployment.num_accelerators=8"),))
    start = time.monotonic()
    with pytest.raises(InvalidParameterError, match="ray-address"):
        run_sweep(spec, tmp_path / "r.duckdb", point_function=toy_point, ray_address="127.0.0.1:1")
    assert time.monotonic() - start < 15


@pytest.mark.slow
def test_ray_local_gives_the_same_rows(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = SweepSpec(
        grid=(parse_grid("site.region=us-virginia,us-texas,atlantis"),),
        random=(parse_random("finance.wacc_frac=0.06:0.12"),),
        num_samples=20,
        seed=2,
    )
    local = run_sweep(spec, tmp_path / "local.duckdb", point_function=toy_point, workers=1)
    on_ray = run_sweep(
        spec, tmp_path / "ray.duckdb", point_function=toy_point, workers=2, ray_address="local"
    )
    assert on_ray.num_rows == local.num_rows == 60 and on_ray.num_errors == 20
    rows = []
    for name in ("local", "ray"):
        with ResultStore(tmp_path / f"{name}.duckdb", read_only=True) as db:
            q = query_store(db, columns=["point_id", "status", "cost_usd_per_mtok_output"])
            rows.append(q.rows)
    assert rows[0] == rows[1]
