"""Speculative decoding against published runs: measured and predicted speedup and TPOT.

    python benchmarks/speculative_validation.py

Each run of ``src/chip2grid/data/measurements_speculative.csv`` is predicted at its stated
acceptance length with and without speculation (``chip2grid.validation.speculative``).
"""

from __future__ import annotations

from chip2grid.validation.speculative import mape_by_family, run_speculative_validation


def main() -> None:
    results = run_speculative_validation()
    print(f"{'run':42s} {'AL':>5s} {'speedup meas':>12s} {'pred':>6s} {'err':>7s} {'TPOT err':>9s}")
    for r in results:
        print(
            f"{r.run.case_id:42s} {r.run.acceptance_length:5.2f} {r.run.measured_speedup:12.2f} "
            f"{r.speedup:6.2f} {100 * r.speedup_error_frac:+6.1f}% {100 * r.tpot_error_frac:+8.1f}%"
        )
    for family, m in mape_by_family(results).items():
        print(
            f"{family}: {int(m['runs'])} runs, MAPE speedup {100 * m['speedup']:.1f} %, "
            f"TPOT {100 * m['tpot']:.1f} %, TPOT without speculation {100 * m['baseline_tpot']:.1f} %"
        )


if __name__ == "__main__":
    main()
