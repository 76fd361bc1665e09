"""Where the runner measures: step grids and timing plans for calibrate (quick, full) and
validate, per device. Validation points are disjoint from every calibration point (other batch
sizes and contexts, another draft method and budget), so validate tests prediction, not recall.
"""

from __future__ import annotations

from dataclasses import dataclass

from magicplan.calibration.torch_runner.steps import Grid
from magicplan.calibration.torch_runner.timing import TimingPlan
from magicplan.errors import MagicplanError
from magicplan.specs.model import ModelSpec

# CPU: the scaled model (scaled.py) streams from DRAM; contexts to 2k and batches to 8 keep a
# quick run under a minute on 2 cores. γ 1-5 as in MagicDec's sweeps.
CPU_GRIDS = {
    "quick": Grid((1, 2, 4, 8), (128, 512, 1024, 2048), (2, 5), 4, "streamingllm", 128),
    "full": Grid((1, 2, 4, 8), (128, 320, 512, 1024, 1600, 2048), (1, 2, 3, 4, 5), 4,
                 "streamingllm", 128),
    "validate": Grid((2, 3, 6), (256, 768, 1536), (3,), 3, "snapkv", 192),
}  # fmt: skip
# CUDA: MagicDec's regime (batch x long context); budget 512 as in its StreamingLLM drafts.
CUDA_GRIDS = {
    "quick": Grid((1, 4, 16), (1024, 4096, 16384), (2, 5), 4, "streamingllm", 512),
    "full": Grid((1, 4, 16, 32), (1024, 4096, 8192, 16384), (1, 2, 3, 4, 5), 4,
                 "streamingllm", 512),
    "validate": Grid((2, 6, 12), (2048, 12288), (3,), 3, "snapkv", 768),
}  # fmt: skip
PLANS = {
    # warm-up calls, timed repeats (the median is kept)
    "quick": TimingPlan(warmup=2, repeats=7),
    "full": TimingPlan(warmup=3, repeats=15),
    "validate": TimingPlan(warmup=2, repeats=9),
    "shapes": TimingPlan(warmup=1, repeats=5),
    "floors": TimingPlan(warmup=3, repeats=25),
}
KV_MEMORY_SHARE = 0.45  # of device memory for the timing cache (weights take up to 0.4)


@dataclass(frozen=True)
class RunPlan:
    """A grid and how to time it."""

    grid: Grid
    timing: TimingPlan


def run_plan(device: str, mode: str, spec: ModelSpec, memory_bytes: float) -> RunPlan:
    """The grid for `device` and `mode` ('quick', 'full', 'validate'), trimmed to memory."""
    grid = (CPU_GRIDS if device == "cpu" else CUDA_GRIDS)[mode]
    return RunPlan(fit_memory(grid, spec, memory_bytes), PLANS[mode])


def fit_memory(grid: Grid, spec: ModelSpec, memory_bytes: float) -> Grid:
    """`grid` without the contexts whose shared cache would not fit KV_MEMORY_SHARE of memory."""
    per_token = spec.kv_bytes_per_token(spec.dtype) * max(grid.batches)
    extra = grid.capacity - max(grid.contexts)
    fits = tuple(
        s for s in grid.contexts if (s + extra) * per_token <= KV_MEMORY_SHARE * memory_bytes
    )
    if not fits:
        raise MagicplanError(
            f"--model {spec.id}: even a {min(grid.contexts)}-token cache for batch "
            f"{max(grid.batches)} does not fit this device's memory"
        )
    return Grid(grid.batches, fits, grid.verify_gammas, grid.draft_gamma, grid.kv_method,
                grid.kv_budget)  # fmt: skip


def microbench_shapes(grid: Grid) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(attention batches, GEMM rows, attention KV lengths) the microbenchmarks time."""
    b_max = max(grid.batches)
    rows = (1, b_max * (max(grid.verify_gammas) + 1))  # one decode token; the largest verify
    return (1, b_max), rows, (min(grid.contexts), max(grid.contexts))
