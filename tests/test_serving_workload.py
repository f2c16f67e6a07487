from __future__ import annotations

import json

import numpy as np
import pytest

from chip2grid import InvalidParameterError
from chip2grid.serving import TraceWarning, gamma_arrivals, load_trace, poisson_arrivals

from .conftest import SHARED

TRACES = SHARED / "traces"


def need(name: str):
    path = TRACES / name
    if not path.is_file():
        pytest.skip(f"{path} is not beside the repository")
    return path


def test_azure_conv_trace_statistics() -> None:
    # statistics published in shared/traces/README.md
    t = load_trace(need("AzureLLMInferenceTrace_conv.csv"))
    assert t.num_requests == 19_366
    assert t.duration_s == pytest.approx(3501.7, abs=0.1)
    assert t.input_tokens.mean() == pytest.approx(1154.7, abs=0.1)
    assert t.output_tokens.mean() == pytest.approx(211.1, abs=0.1)
    assert t.mean_rate_per_s == pytest.approx(5.53, abs=0.01)


def test_mooncake_conversation_trace_statistics() -> None:
    t = load_trace(need("conversation_trace.jsonl"))
    assert t.num_requests == 12_031
    assert t.input_tokens.mean() == pytest.approx(12_035.1, abs=0.1)
    assert t.duration_s == pytest.approx(3537.0, abs=0.1)
    blocks = [h for hs in t.prefix_hashes for h in hs]
    assert len(blocks) == 288_500 and len(set(blocks)) == 182_790


@pytest.mark.parametrize(
    "body,needle",
    [
        ("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6,10\n", "lacks"),
        ("arrival_s,input_tokens,output_tokens\n0.0,10,5\n1.0,-3,5\n", ":3"),
        ("arrival_s,input_tokens,output_tokens\n0.0,ten,5\n", "not a number"),
        # a non-finite time or length would run the simulation on NaN times
        ("arrival_s,input_tokens,output_tokens\n0,100,10\nnan,100,10\n", ":3.*arrival_s.*finite"),
        ("arrival_s,input_tokens,output_tokens\n0,100,10\ninf,100,10\n", ":3.*finite"),
        ("arrival_s,input_tokens,output_tokens\n0,inf,10\n", ":2.*input_tokens"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, body: str, needle: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(body)
    with pytest.raises(InvalidParameterError, match=needle):
        load_trace(path)


def test_malformed_jsonl_names_line(tmp_path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps({"timestamp": 0, "input_length": 5, "output_length": 2}) + "\n{oops\n"
    )
    with pytest.raises(InvalidParameterError, match=r"t\.jsonl:2"):
        load_trace(path)


def test_unsorted_trace_is_sorted_with_warning(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("arrival_s,input_tokens,output_tokens\n5.0,10,1\n1.0,20,2\n")
    with pytest.warns(TraceWarning, match="sorted"):
        t = load_trace(path)
    assert list(t.arrival_s) == [0.0, 4.0]
    assert list(t.input_tokens) == [20, 10]


def test_poisson_rate_and_gamma_burstiness() -> None:
    rng = np.random.default_rng(7)
    a = poisson_arrivals(10.0, 200_000, rng)
    gaps = np.diff(a)
    assert gaps.mean() == pytest.approx(0.1, rel=0.01)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.02)
    b = np.diff(gamma_arrivals(10.0, 3.0, 200_000, np.random.default_rng(8)))
    assert b.mean() == pytest.approx(0.1, rel=0.03)
    assert b.std() / b.mean() == pytest.approx(3.0, rel=0.05)
    with pytest.raises(InvalidParameterError):
        poisson_arrivals(0.0, 10, rng)
