"""Kill-and-resume benchmark of ``chip2grid sweep``.

Runs a sweep of ``--points`` scenarios (default 10,000: 2 regions x 5,000 random WACC and
input-length samples of the default scenario, steady state + cost) on 2 local workers in a
subprocess, SIGKILLs it once half the points are committed, re-runs the same command, and
checks that the store ends with exactly one row per point and no duplicates.

Run: python benchmarks/bench_sweep.py [--points 10000] [--point-function module:function]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def command(store: Path, points: int, point_function: str | None) -> list[str]:
    cmd = [
        sys.executable, "-m", "chip2grid", "sweep",
        "--grid", "site.region=us-virginia,us-texas",
        "--random", "finance.wacc_frac=0.06:0.12",
        "--random", "workload.synthetic.input_tokens=int:256:4096",
        "--samples", str(points // 2), "--seed", "1",
        "--store", str(store), "--workers", "2", "--batch-size", "200", "--json",
    ]  # fmt: skip
    if point_function:
        cmd += ["--point-function", point_function]
    return cmd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--point-function", default=None)
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp(prefix="c2g-bench-")) / "sweep.duckdb"
    cmd = command(store, args.points, args.point_function)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, "--progress"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    committed = 0
    for line in proc.stderr:
        if line.startswith("committed "):
            committed = int(line.split()[1].split("/")[0])
            if committed >= args.points // 2:
                break
    first_s = time.perf_counter() - start
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    con = duckdb.connect(str(store), read_only=True)
    partial = con.execute("SELECT count(*) FROM points").fetchone()
    con.close()
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    second_s = time.perf_counter() - start
    summary = json.loads(done.stdout)
    con = duckdb.connect(str(store), read_only=True)
    total, distinct, errors = con.execute(
        "SELECT count(*), count(DISTINCT point_id), count(*) FILTER (status = 'error') FROM points"
    ).fetchone()  # type: ignore[misc]
    con.close()
    ok = total == distinct == args.points
    print(
        f"killed after {first_s:.1f} s with {partial[0] if partial else 0} rows committed; "
        f"resume skipped {summary['num_skipped']}, evaluated {summary['num_evaluated']} in "
        f"{second_s:.1f} s ({summary['points_per_s']:.1f} points/s on 2 workers); "
        f"store: {total} rows, {distinct} distinct ids, {errors} error rows -> "
        f"{'OK' if ok else 'FAIL'} ({store})"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
