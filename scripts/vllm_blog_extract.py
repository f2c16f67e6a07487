"""Build ``src/chip2grid/data/measurements_vllm_blog.csv`` from the vLLM team's v0.6.0 post.

The post ("vLLM v0.6.0: 2.7x Throughput Improvement and 5x Latency Reduction", blog.vllm.ai,
2024-09-05; ``_posts/2024-09-05-perf-update.md`` in vllm-project/vllm-project.github.io) gives
its throughput figures only as bar charts. This script reads the bar heights off the chart
images themselves, in pixels, against the charts' own grid lines:

- ``assets/figures/perf-v060/H100_8B.png`` and ``H100_70B.png`` (the appendix): requests per
  second of a burst of 500 prompts (``benchmark_serving.py``, request rate inf) on Llama 3 8B on
  one H100 and Llama 3 70B on four, for vLLM 0.6.0, SGLang 0.3.0, lmdeploy 0.6.0a0 and
  TensorRT-LLM r24.07 (Triton), on three data sets;
- ``llama8B_comparison.png`` and ``llama70B_comparison.png``: the same ShareGPT burst under vLLM
  0.5.3 and 0.6.0.

A bar's value is its top edge's height above the zero line in units of the grid's spacing
(the tick step is the one printed on the chart's axis, listed below); the read is good to about
one pixel, 0.07 requests/s on the appendix charts and 0.1 on the comparison charts. The
comparison charts' vLLM 0.6.0 bars (36.29 and 17.17 requests/s) repeat the appendix's (36.8 and
17.27) and are not written; their ratios to the 0.5.3 bars (2.78x and 1.77x) are the post's
"2.7x" and "1.8x". The lmdeploy bars are read but not written: chip2grid has no lmdeploy engine
profile.

Usage: ``python scripts/vllm_blog_extract.py PATH_TO_CLONE`` (a clone of
vllm-project/vllm-project.github.io at :data:`COMMIT`); writes the CSV.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chip2grid.atomic import atomic_open
from chip2grid.validation.cases import MEASUREMENT_COLUMNS

COMMIT = "c3a01c4a5807c8d900ae468897e45263373e534e"
REPO = "github:vllm-project/vllm-project.github.io"
POST = "_posts/2024-09-05-perf-update.md"
OUT = Path(__file__).resolve().parents[1] / "src" / "chip2grid" / "data"
OUT_FILE = OUT / "measurements_vllm_blog.csv"

COLUMNS = list(MEASUREMENT_COLUMNS)

# bar fill colours of the appendix charts (a blue, an orange, two greys) and of the comparison
# charts (another blue and orange)
BLUE, ORANGE, LIGHT_GREY, DARK_GREY = (0, 107, 164), (255, 128, 14), (171, 171, 171), (89, 89, 89)
BLUE_2, ORANGE_2 = (35, 108, 168), (250, 117, 39)

# data sets as the post describes them: mean input and output tokens
DATASETS = {
    "sharegpt": (
        202,
        179,
        "ShareGPT V3 (ShareGPT_V3_unfiltered_cleaned_split.json), 500 prompts sampled with a"
        " fixed seed; the post states 202 input and 179 output tokens on average",
    ),
    "decode-heavy": (
        462,
        256,
        "sonnet decode-heavy (benchmark_serving.py sonnet data set), 500 prompts; the post"
        " states roughly 462 input and 256 output tokens on average",
    ),
    "prefill-heavy": (
        462,
        16,
        "sonnet prefill-heavy (benchmark_serving.py sonnet data set), 500 prompts; the post"
        " states roughly 462 input and 16 output tokens on average",
    ),
}

ENGINES = {
    # chart label: (engine, version, precision, how it served)
    "vLLM 0.6.0": (
        "vllm",
        "0.6.0",
        "bf16",
        "docker vllm/vllm-openai:v0.6.0, --num-scheduler-steps 10 (the post), default"
        " max_num_seqs 256",
    ),
    "vLLM 0.5.3": (
        "vllm",
        "0.5.3",
        "bf16",
        "vLLM 0.5.3 OpenAI server (API server in the engine's process), default max_num_seqs 256",
    ),
    "SGLang": ("sglang", "0.3.0", "bf16", "docker lmsysorg/sglang:v0.3.0-cu124, defaults"),
    "TRT-LLM": (
        "tensorrt-llm",
        "0.11.0",
        "fp16",
        "Triton nvcr.io/nvidia/tritonserver:24.07-trtllm-python-py3 (TensorRT-LLM 0.11.0),"
        " model_dtype float16, max_batch_size 256 (vLLM's nightly-benchmark settings)",
    ),
}

MODELS = {"8B": ("llama-3-8b", 1), "70B": ("llama-3-70b", 4)}


@dataclass(frozen=True)
class Panel:
    """One bar chart inside an image: its pixel box, a column of it that crosses only the grid
    lines and the axes, the tick step printed on its y axis and its bars, left to right (chart
    label, colour)."""

    image: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    grid_x: int
    tick_step: float
    bars: tuple[tuple[str, tuple[int, int, int]], ...]
    model: str
    dataset: str


APPENDIX_BARS = (
    ("vLLM 0.6.0", BLUE),
    ("SGLang", ORANGE),
    ("lmdeploy", LIGHT_GREY),
    ("TRT-LLM", DARK_GREY),
)
COMPARISON_BARS = (("vLLM 0.5.3", ORANGE_2), ("vLLM 0.6.0", BLUE_2))


def _panels() -> list[Panel]:
    # the appendix images are 3726 x 2525: the throughput charts are the right-hand column, one
    # row per data set; the comparison images' throughput chart is their left half
    rows = ((0, 700, "sharegpt"), (850, 1550, "decode-heavy"), (1700, 2400, "prefill-heavy"))
    steps = {"8B": (10.0, 10.0, 20.0), "70B": (5.0, 5.0, 10.0)}
    grid_x = {"8B": 2730, "70B": 2740}  # between the y axis and the first bar
    panels = []
    for size in ("8B", "70B"):
        for (y0, y1, dataset), step in zip(rows, steps[size], strict=True):
            box = (2460, y0, 3726, y1)
            panels.append(
                Panel(f"H100_{size}.png", box, grid_x[size], step, APPENDIX_BARS, size, dataset)
            )
    for size, height, step in (("8B", 409, 10.0), ("70B", 416, 5.0)):
        box = (0, 0, 600, height)  # the throughput chart; x 560: right of its second bar
        image = f"llama{size}_comparison.png"
        panels.append(Panel(image, box, 560, step, COMPARISON_BARS, size, "sharegpt"))
    return panels


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-d mask, as (first, last) indices."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _coloured(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """True where a pixel (last axis RGB) is within 12 levels, summed over R, G and B, of
    ``colour``: a bar's fill, not its anti-aliased edge."""
    mask: np.ndarray = np.abs(pixels - np.array(colour)).sum(axis=-1) <= 12
    return mask


def read_panel(pixels: np.ndarray, panel: Panel) -> dict[str, float]:
    """The bars' values of one chart: heights above the zero line in the chart's unit (the
    grid's spacing is one ``tick_step``)."""
    x0, y0, x1, y1 = panel.box
    box = pixels[y0:y1, x0:x1].astype(int)
    values: dict[str, float] = {}
    columns: dict[str, int] = {}
    for label, colour in panel.bars:
        hit = _coloured(box, colour).sum(axis=0)
        runs = [r for r in _runs(hit > 20) if r[1] - r[0] > 20]
        if len(runs) != 1:
            raise ValueError(f"{panel.image}: {len(runs)} bars of {label}'s colour")
        columns[label] = (runs[0][0] + runs[0][1]) // 2
    # the lines the background column crosses: the top of the frame, the grid lines and, last,
    # the x axis, which is the zero line the bars stand on
    background = pixels[y0:y1, panel.grid_x].astype(int)
    lines = [(a + b) / 2.0 for a, b in _runs((background < 245).any(axis=1)) if b - a <= 4]
    if len(lines) < 4:
        raise ValueError(f"{panel.image}: {len(lines)} lines in column {panel.grid_x}")
    steps = np.diff(lines[1:])
    spacing = float(np.median(steps))
    if np.abs(steps - spacing).max() > 2.0:
        raise ValueError(f"{panel.image}: grid lines unevenly spaced {steps}")
    zero = lines[-1]
    for label, colour in panel.bars:
        col = box[:, columns[label]]
        # the grid lines cross the bars: the bar spans from its first to its last filled row
        filled = np.flatnonzero(_coloured(col, colour))
        top, bottom = int(filled[0]), int(filled[-1])
        if abs(bottom - zero) > 4:
            raise ValueError(f"{panel.image}: {label}'s bar ends at {bottom}, zero line {zero}")
        values[label] = round((zero - top + 0.5) / spacing * panel.tick_step, 2)
    return values


def rows(clone: Path) -> list[dict[str, str]]:
    from PIL import Image  # Pillow: needed to read the charts, not to run chip2grid

    out = []
    figures = clone / "assets" / "figures" / "perf-v060"
    images: dict[str, np.ndarray] = {}  # three charts share each appendix image
    for panel in _panels():
        if panel.image not in images:
            images[panel.image] = np.asarray(Image.open(figures / panel.image).convert("RGB"))
        pixels = images[panel.image]
        model, tp = MODELS[panel.model]
        isl, osl, dataset = DATASETS[panel.dataset]
        comparison = "comparison" in panel.image
        source = f"{REPO}/assets/figures/perf-v060/{panel.image}@{COMMIT}"
        chart = "throughput bar" if comparison else f"'{panel.dataset}, Throughput' bar"
        for label, value in read_panel(pixels, panel).items():
            if label not in ENGINES:
                continue  # lmdeploy: no engine profile
            if comparison and label == "vLLM 0.6.0":
                continue  # the appendix chart holds the same run (read 1.4 and 0.6 % apart)
            engine, version, precision, how = ENGINES[label]
            out.append(
                {
                    "case_id": f"vllmblog-{engine}-{version}-{model}-h100-sxm-tp{tp}-{panel.dataset}",
                    "source": source,
                    "model": model,
                    "accelerator": "h100-sxm",
                    "num_accelerators": str(tp),
                    "engine": engine,
                    "engine_version": version,
                    "weight_precision": precision,
                    "kv_precision": precision,
                    "tp": str(tp),
                    "pp": "1",
                    "ep": "",
                    "isl": str(isl),
                    "osl": str(osl),
                    "dataset": dataset,
                    "mode": "offline",
                    "concurrency": "",
                    "request_rate_per_s": "",
                    "batch_size": "",
                    "metric": "requests_per_s",
                    "value": f"{value:g}",
                    "unit": "requests/s",
                    "notes": (
                        f"vLLM team, 'vLLM v0.6.0: 2.7x Throughput Improvement and 5x Latency"
                        f" Reduction' (blog.vllm.ai 2024-09-05, {POST}); {chart} of"
                        f" {panel.image}, read off the image in pixels against its grid lines"
                        f" (scripts/vllm_blog_extract.py; about one pixel: +-0.1 requests/s);"
                        f" benchmark_serving.py, a burst of 500 prompts (request rate inf),"
                        f" Meta-Llama-3-{panel.model} on {tp} x H100 (TP {tp}); {how}"
                    ),
                }
            )
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = rows(Path(argv[1]))
    with atomic_open(OUT_FILE, newline="") as handle:  # an interrupted run keeps the old file
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
    print(f"{len(data)} rows -> {OUT_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
