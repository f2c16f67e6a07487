"""Speculative decoding against published runs with their acceptance lengths (held out: nothing
is fitted on them). Thresholds are what the model achieves, rounded up: they keep it from getting
silently worse (README, Validation; docs/validation.md)."""

from __future__ import annotations

import pytest

from chip2grid.validation.speculative import (
    load_speculative_runs,
    mape_by_family,
    run_speculative_validation,
)

# family: (speedup MAPE, TPOT MAPE) as of 2026-11-25
MAX_MAPE = {
    "trtmtp": (0.02, 0.47),  # TensorRT-LLM's DeepSeek-R1 MTP 1-5 on 8x B200: 1.3 %, 46.4 %
    "vllmeagle": (0.31, 0.25),  # vLLM V1 EAGLE-1/-3 on Llama-3.1-8B, K 2-7: 30.6 %, 24.8 %
}


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return run_speculative_validation()


def test_every_run_states_its_speculation_and_its_baseline() -> None:
    runs = load_speculative_runs()
    assert len(runs) == 17
    for run in runs:
        assert 1.0 <= run.acceptance_length <= run.num_speculative_tokens + 1
        assert run.tpot_s > 0 and run.baseline_tpot_s > 0
        assert run.source


def test_the_error_stays_under_what_is_achieved(results) -> None:  # type: ignore[no-untyped-def]
    mape = mape_by_family(results)
    assert set(mape) == set(MAX_MAPE)
    for family, (speedup_max, tpot_max) in MAX_MAPE.items():
        assert mape[family]["speedup"] <= speedup_max, (family, mape[family])
        assert mape[family]["tpot"] <= tpot_max, (family, mape[family])


def test_speculation_pays_at_one_sequence_as_measured(results) -> None:  # type: ignore[no-untyped-def]
    for r in results:
        assert r.run.measured_speedup > 1.0
        assert r.speedup > 1.0, r.run.case_id
        # the speedup is less than the tokens a step emits: drafting and verifying cost time
        assert r.speedup < r.run.acceptance_length, r.run.case_id
