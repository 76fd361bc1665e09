"""Physics the cost model obeys for any workload (hypothesis property tests).

Ω ∈ [1, γ+1] and non-decreasing in α; step times non-decreasing in batch, context and γ; more
bandwidth, FLOP/s or link never slower; a compressed-KV draft's step flat in the context; memory
non-decreasing in batch and context; the best plan never slower than AR (AR is a candidate);
tensor parallelism within its ideal bounds (T₁/N ≤ T_N ≤ T₁) and memory split exactly; the
reported figures consistent (breakdowns sum to their step, speedup and throughput from the step
times; block-wise evaluation equal to one pass); huge but valid workloads give finite answers.
Specs: small ones built in code (dense, GQA, MoE, sliding window) plus shipped profiles.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magicplan.cost.memory import kv_cache_bytes_per_gpu, memory_per_gpu, weight_bytes_per_gpu
from magicplan.cost.operators import shard
from magicplan.cost.roofline import make_roofline
from magicplan.cost.speculative import expected_tokens, expected_tokens_positional
from magicplan.cost.steps import forward_time
from magicplan.estimate import CHUNK, estimate, estimate_arrays
from magicplan.planner import plan
from magicplan.setup import MAX_INTEGER, Setup
from magicplan.specs import load_hardware, load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from tests.cost.conftest import make_cal, make_hw, make_model

PROPERTY = settings(max_examples=30, deadline=None)
REL = 1e-12  # float slack for "non-decreasing": sums of per-class shares round differently

MODELS: dict[str, ModelSpec] = {
    "dense": make_model(),
    "gqa": make_model(id="gqa", num_kv_heads=8),
    "moe": make_model(
        id="moe",
        intermediate_size=2048,
        moe={"num_experts": 8, "experts_per_token": 2, "expert_intermediate_size": 2048},
    ),
    "window": make_model(id="window", num_kv_heads=8, sliding_window=4096, local_layers=16),
}
SMALL_DRAFT = make_model(
    id="draft",
    num_layers=4,
    hidden_size=1024,
    num_attention_heads=8,
    num_kv_heads=8,
    intermediate_size=2816,
)
METHODS = ("full", "streamingllm", "snapkv", "topk")

model_names = st.sampled_from(sorted(MODELS))
methods = st.sampled_from(METHODS)
batches = st.integers(min_value=1, max_value=4096)
contexts = st.integers(min_value=1, max_value=1 << 20)
gammas = st.integers(min_value=1, max_value=16)
budgets = st.integers(min_value=16, max_value=8192)
alphas = st.floats(min_value=0.0, max_value=1.0)
modes = st.sampled_from(("calibrated", "ideal"))
overheads = st.fixed_dictionaries(
    {
        "memory_efficiency": st.floats(min_value=0.3, max_value=1.0),
        "compute_efficiency": st.floats(min_value=0.3, max_value=1.0),
        "step_overhead_us": st.floats(min_value=0.0, max_value=500.0),
        "layer_overhead_us": st.floats(min_value=0.0, max_value=100.0),
        "token_layer_overhead_ns": st.floats(min_value=0.0, max_value=100.0),
        "allreduce_latency_us": st.floats(min_value=0.0, max_value=50.0),
        "link_efficiency": st.floats(min_value=0.1, max_value=1.0),
        "round_overhead_us": st.floats(min_value=0.0, max_value=1000.0),
    }
)
STEP_TIMES = ("t_autoregressive_ms", "t_draft_ms", "t_verify_ms", "t_prefill_ms")


def toy_setup(name: str, method: str, mode: str = "calibrated", **cal: Any) -> Setup:
    hw = make_hw()
    return Setup(
        hardware=hw,
        num_gpus=2,
        target=MODELS[name],
        kv_method=method,
        mode=mode,
        calibration=make_cal(**cal),
    )


def non_decreasing(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.diff(v) >= -REL * np.abs(v[1:])))


# --- Ω ------------------------------------------------------------------------------------


@PROPERTY
@given(gamma=st.integers(min_value=1, max_value=64), alpha=alphas)
def test_omega_within_one_and_gamma_plus_one(gamma: int, alpha: float) -> None:
    om = float(expected_tokens(gamma, alpha))
    assert 1.0 <= om <= gamma + 1.0


@PROPERTY
@given(gamma=st.integers(min_value=1, max_value=64), a=alphas, b=alphas)
def test_omega_non_decreasing_in_alpha(gamma: int, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert float(expected_tokens(gamma, lo)) <= float(expected_tokens(gamma, hi)) * (1 + REL)


@PROPERTY
@given(gamma=gammas, alpha=alphas)
def test_omega_positional_matches_iid(gamma: int, alpha: float) -> None:
    """Equal per-position rates give the closed form (the bonus token counted once)."""
    positional = float(expected_tokens_positional([alpha] * gamma))
    assert positional == pytest.approx(float(expected_tokens(gamma, alpha)), rel=1e-9)


# --- step times ---------------------------------------------------------------------------


@PROPERTY
@given(
    name=model_names,
    method=methods,
    mode=modes,
    cal=overheads,
    bs=st.lists(batches, min_size=2, max_size=6),
    context=contexts,
    gamma=gammas,
    budget=budgets,
)
def test_step_times_non_decreasing_in_batch(
    name: str,
    method: str,
    mode: str,
    cal: dict[str, float],
    bs: list[int],
    context: int,
    gamma: int,
    budget: int,
) -> None:
    out = estimate_arrays(
        toy_setup(name, method, mode, **cal), sorted(bs), context, gamma, budget, 0.8
    )
    for key in STEP_TIMES:
        assert non_decreasing(out[key]), (key, out[key])


@PROPERTY
@given(
    name=model_names,
    method=methods,
    mode=modes,
    cal=overheads,
    batch=batches,
    ss=st.lists(contexts, min_size=2, max_size=6),
    gamma=gammas,
    budget=budgets,
)
def test_step_times_non_decreasing_in_context(
    name: str,
    method: str,
    mode: str,
    cal: dict[str, float],
    batch: int,
    ss: list[int],
    gamma: int,
    budget: int,
) -> None:
    out = estimate_arrays(
        toy_setup(name, method, mode, **cal), batch, sorted(ss), gamma, budget, 0.8
    )
    for key in STEP_TIMES:
        assert non_decreasing(out[key]), (key, out[key])


@PROPERTY
@given(
    name=model_names,
    method=methods,
    cal=overheads,
    batch=batches,
    context=contexts,
    gs=st.lists(gammas, min_size=2, max_size=6),
    budget=budgets,
)
def test_step_times_non_decreasing_in_gamma(
    name: str,
    method: str,
    cal: dict[str, float],
    batch: int,
    context: int,
    gs: list[int],
    budget: int,
) -> None:
    out = estimate_arrays(toy_setup(name, method, **cal), batch, context, sorted(gs), budget, 0.8)
    for key in ("t_draft_ms", "t_verify_ms"):
        assert non_decreasing(out[key]), (key, out[key])
    round_ms = np.asarray(sorted(gs)) * out["t_draft_ms"] + out["t_verify_ms"]
    assert non_decreasing(round_ms)


@PROPERTY
@given(
    name=model_names,
    method=st.sampled_from(("streamingllm", "snapkv")),
    small_draft=st.booleans(),
    batch=batches,
    budget=budgets,
    ss=st.lists(st.integers(min_value=8192, max_value=1 << 22), min_size=2, max_size=6),
    gamma=gammas,
)
def test_compressed_draft_flat_in_context(
    name: str,
    method: str,
    small_draft: bool,
    batch: int,
    budget: int,
    ss: list[int],
    gamma: int,
) -> None:
    """Once the context exceeds the budget, a StreamingLLM or SnapKV draft step does not grow."""
    draft = SMALL_DRAFT if small_draft else None
    setup = Setup(
        hardware=make_hw(),
        num_gpus=2,
        target=MODELS[name],
        draft=draft,
        kv_method=method,
        calibration=make_cal(),
    )
    t = estimate_arrays(setup, batch, ss, gamma, budget, 0.8)["t_draft_ms"]
    assert np.all(t == t[0]), t


@PROPERTY
@given(
    name=model_names,
    method=methods,
    cal=overheads,
    batch=batches,
    context=contexts,
    gamma=gammas,
    faster=st.sampled_from(("hbm_bandwidth_tb_s", "bf16_dense_tflops", "scaleup_link_gb_s")),
    factor=st.floats(min_value=1.0, max_value=100.0),
    default_calibration=st.booleans(),
)
def test_more_bandwidth_or_flops_never_slower(
    name: str,
    method: str,
    cal: dict[str, float],
    batch: int,
    context: int,
    gamma: int,
    faster: str,
    factor: float,
    default_calibration: bool,
) -> None:
    """Scaling up any rate keeps every step at most as long (default calibrations included,
    whose fixed latencies shrink with bandwidth)."""
    slow = make_hw()
    fast = make_hw(**{faster: getattr(slow, faster) * factor})
    calibration = None if default_calibration else make_cal(**cal)
    out = [
        estimate_arrays(
            Setup(
                hardware=hw,
                num_gpus=2,
                target=MODELS[name],
                kv_method=method,
                calibration=calibration,
            ),
            batch,
            context,
            gamma,
            512,
            0.8,
        )
        for hw in (slow, fast)
    ]
    for key in (*STEP_TIMES, "t_spec_per_token_ms"):
        assert out[1][key] <= out[0][key] * (1 + REL), key


# --- memory -------------------------------------------------------------------------------


@PROPERTY
@given(
    name=model_names,
    method=methods,
    bs=st.lists(batches, min_size=2, max_size=5),
    ss=st.lists(contexts, min_size=2, max_size=5),
    gamma=gammas,
    budget=budgets,
)
def test_memory_non_decreasing_in_batch_and_context(
    name: str, method: str, bs: list[int], ss: list[int], gamma: int, budget: int
) -> None:
    b = np.asarray(sorted(bs), dtype=float)[:, None]
    s = np.asarray(sorted(ss), dtype=float)[None, :]
    model = MODELS[name]
    for speculative in (True, False):
        total = memory_per_gpu(
            model, 2, b, s, gamma, kv_method=method, kv_budget=budget, speculative=speculative
        )["total"]
        assert np.all(np.diff(total, axis=0) >= 0) and np.all(np.diff(total, axis=1) >= 0)
    out = estimate_arrays(toy_setup(name, method), b, s, gamma, budget, 0.8)
    assert np.all(np.diff(out["max_batch"], axis=1) <= 0)  # longer contexts fit fewer sequences


@PROPERTY
@given(name=model_names, context=contexts, gamma=gammas)
def test_max_batch_is_the_capacity_edge(name: str, context: int, gamma: int) -> None:
    """AR memory at max_batch fits; one more sequence does not."""
    setup = toy_setup(name, "full")
    mb = int(estimate_arrays(setup, 1, context, gamma, 0, 0.8)["max_batch"])
    cap = setup.hardware.memory_bytes * setup.memory_utilization
    if mb >= 1:
        at = memory_per_gpu(setup.target, 2, mb, context, gamma, speculative=False)["total"]
        assert float(at) <= cap * (1 + 1e-12)
    over = memory_per_gpu(setup.target, 2, mb + 1, context, gamma, speculative=False)["total"]
    assert float(over) > cap * (1 - 1e-12)


# --- tensor parallelism -------------------------------------------------------------------


@PROPERTY
@given(
    name=model_names,
    n=st.sampled_from((2, 4, 8, 16, 32)),
    batch=batches,
    new_tokens=st.integers(min_value=1, max_value=17),
    kv_len=contexts,
)
def test_tensor_parallel_within_ideal_bounds(
    name: str, n: int, batch: int, new_tokens: int, kv_len: int
) -> None:
    """Ideal mode (no communication, no overheads): T₁/N ≤ T_N ≤ T₁, and weights and KV split
    exactly N ways when N divides the KV heads."""
    model = MODELS[name]
    rf = make_roofline(make_hw(), make_cal(), model.dtype, ideal=True)
    t1 = float(forward_time(model, rf, 1, batch, new_tokens, kv_len).total_s)
    tn = float(forward_time(model, rf, n, batch, new_tokens, kv_len).total_s)
    assert t1 / n * (1 - 1e-9) <= tn <= t1 * (1 + 1e-9)
    one, many = shard(model, 1), shard(model, n)
    if model.num_kv_heads % n == 0:
        assert n * weight_bytes_per_gpu(model, many) == pytest.approx(
            weight_bytes_per_gpu(model, one), rel=1e-12
        )
        kv1 = float(kv_cache_bytes_per_gpu(model, one, batch, kv_len))
        assert n * float(kv_cache_bytes_per_gpu(model, many, batch, kv_len)) == pytest.approx(
            kv1, rel=1e-12
        )
    else:  # KV heads replicated: more than 1/N of the cache per GPU, never more than all of it
        kv = float(kv_cache_bytes_per_gpu(model, many, batch, kv_len))
        kv1 = float(kv_cache_bytes_per_gpu(model, one, batch, kv_len))
        assert kv1 / n < kv <= kv1


@PROPERTY
@given(name=model_names, n=st.sampled_from((2, 4, 8)), batch=batches, context=contexts)
def test_more_gpus_less_memory_each(name: str, n: int, batch: int, context: int) -> None:
    model = MODELS[name]
    one = memory_per_gpu(model, 1, batch, context, speculative=False)["total"]
    many = memory_per_gpu(model, n, batch, context, speculative=False)["total"]
    assert float(many) <= float(one)


# --- consistency of the reported figures --------------------------------------------------


@PROPERTY
@given(
    name=model_names,
    method=methods,
    mode=modes,
    cal=overheads,
    batch=batches,
    context=contexts,
    gamma=gammas,
    alpha=alphas,
)
def test_reported_figures_agree(
    name: str,
    method: str,
    mode: str,
    cal: dict[str, float],
    batch: int,
    context: int,
    gamma: int,
    alpha: float,
) -> None:
    """Breakdowns sum to their step; speedup, throughput and Ω agree with the step times."""
    setup = toy_setup(name, method, mode, **cal)
    out = estimate_arrays(setup, batch, context, gamma, 512, alpha)
    for step in ("autoregressive", "draft", "verify"):
        parts = sum(v for k, v in out.items() if k.startswith(f"breakdown.{step}."))
        assert float(parts) == pytest.approx(float(out[f"t_{step}_ms"]), rel=1e-9)
    round_ms = (
        gamma * out["t_draft_ms"] + out["t_verify_ms"] + setup.roofline.round_overhead_s * 1e3
    )
    assert float(out["t_spec_per_token_ms"]) == pytest.approx(
        float(round_ms / out["accepted_per_step"]), rel=1e-9
    )
    assert float(out["speedup"]) == pytest.approx(
        float(out["t_autoregressive_ms"] / out["t_spec_per_token_ms"]), rel=1e-9
    )
    assert float(out["throughput_tokens_per_s"]) == pytest.approx(
        batch / float(out["t_spec_per_token_ms"]) * 1e3, rel=1e-9
    )


# --- huge but valid inputs ----------------------------------------------------------------


@PROPERTY
@given(
    batch=st.integers(min_value=1, max_value=int(MAX_INTEGER)),
    context=st.integers(min_value=1, max_value=int(MAX_INTEGER)),
    gamma=st.integers(min_value=1, max_value=1 << 20),
    budget=st.integers(min_value=1, max_value=int(MAX_INTEGER)),
    method=methods,
    mode=modes,
)
def test_huge_workloads_answer_finitely(
    h100: HardwareSpec,
    llama8b: ModelSpec,
    batch: int,
    context: int,
    gamma: int,
    budget: int,
    method: str,
    mode: str,
) -> None:
    """Batch 10⁹ or a budget beyond the context: finite figures, 'does not fit' said."""
    r = estimate(h100, 8, llama8b, batch, context, gamma, kv_method=method, kv_budget=budget,
                 acceptance=0.8, mode=mode)  # fmt: skip
    json.dumps(r, allow_nan=False)
    assert r["speedup"] > 0 and r["t_autoregressive_ms"] > 0
    if r["fits_in_memory"]:
        assert r["memory_per_gpu_gb"] <= 0.9 * h100.memory_gb * (1 + 1e-6)
    else:
        assert any(n.startswith("does not fit") for n in r["notes"])
    if method != "full" and budget >= context:
        assert any("keeps the whole context" in n for n in r["notes"])


# --- the planner --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h100() -> HardwareSpec:
    return load_hardware("h100-sxm")


@pytest.fixture(scope="module")
def llama8b() -> ModelSpec:
    return load_model("llama-3.1-8b")


@settings(PROPERTY, max_examples=25)
@given(
    hardware=st.sampled_from(("h100-sxm", "a100-80gb-sxm", "l40s")),
    num_gpus=st.sampled_from((1, 2, 4, 8)),
    batch=st.integers(min_value=1, max_value=1024),
    context=st.integers(min_value=64, max_value=131072),
    alpha=st.none() | alphas,
)
def test_best_plan_never_slower_than_autoregressive(
    llama8b: ModelSpec,
    hardware: str,
    num_gpus: int,
    batch: int,
    context: int,
    alpha: float | None,
) -> None:
    """AR is a candidate: whenever it fits, the best plan is at least as fast, speedup ≥ 1."""
    r = plan(load_hardware(hardware), num_gpus, llama8b, batch, context, acceptance=alpha)
    ar = r["autoregressive"]
    times = [c["t_spec_per_token_ms"] for c in r["candidates"]]
    assert times == sorted(times)
    if ar["fits_in_memory"]:
        assert r["best"] is not None
        assert r["best"]["t_spec_per_token_ms"] <= ar["t_spec_per_token_ms"] * (1 + 1e-9)
        assert r["best"]["speedup"] >= 1 - 1e-9
    for c in r["candidates"]:
        assert c["fits_in_memory"]


@settings(PROPERTY, max_examples=5)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), method=methods)
def test_many_rows_match_one_pass(seed: int, method: str) -> None:
    """More rows than one block (estimated block by block) give what one pass over a column
    (which broadcasts instead) gives, up to rounding."""
    rng = np.random.default_rng(seed)
    n = CHUNK + 7
    rows = (
        rng.integers(1, 512, n).astype(float),
        rng.integers(1, 200_000, n).astype(float),
        rng.integers(1, 12, n).astype(float),
        rng.integers(16, 4096, n).astype(float),
        rng.uniform(0.0, 1.0, n),
    )
    setup = toy_setup("gqa", method)
    blocks = estimate_arrays(setup, *rows)
    column = estimate_arrays(setup, *(r[:, None] for r in rows))
    assert blocks.keys() == column.keys()
    for key, value in blocks.items():
        assert value.shape == (n,)
        # Equal up to rounding: a block that sits in one segment of the folded operators sums
        # them in another order than a pass that spans segments.
        np.testing.assert_allclose(value, column[key].ravel(), rtol=1e-12, atol=0, err_msg=key)
