"""Runner pieces: the scaled-down spec, grids, timing, step timing and the microbenchmark roofs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from magicplan.calibration.torch_runner import grids  # noqa: E402
from magicplan.calibration.torch_runner.microbench import Probe, roofs  # noqa: E402
from magicplan.calibration.torch_runner.model import init_weights  # noqa: E402
from magicplan.calibration.torch_runner.scaled import (  # noqa: E402
    CPU_WEIGHT_BUDGET_BYTES,
    cpu_spec,
    cuda_spec,
    notes_to_spec,
    spec_to_notes,
)
from magicplan.calibration.torch_runner.steps import (  # noqa: E402
    Grid,
    StepBench,
    time_grid,
    to_samples,
)
from magicplan.calibration.torch_runner.timing import (  # noqa: E402
    TimingPlan,
    check_device,
    sample_times,
    time_once,
)
from magicplan.calibration.torch_runner.validate import validation_spec  # noqa: E402
from magicplan.errors import MagicplanError  # noqa: E402
from magicplan.specs import load_model  # noqa: E402

H100_MEMORY_BYTES = 85.9e9  # hardware_profiles/h100-sxm.yaml memory_gb


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen2.5-0.5b", "llama-3.2-1b", "mixtral-8x7b"])
def test_cpu_spec_keeps_the_models_ratios(model: str) -> None:
    base, s = load_model(model), cpu_spec(load_model(model))
    group = base.num_attention_heads // base.num_kv_heads
    assert s.num_attention_heads // s.num_kv_heads == group
    assert s.head_dim_eff == min(base.head_dim_eff, 128)
    width = base.moe.expert_intermediate_size if base.moe else base.intermediate_size
    assert s.intermediate_size / s.hidden_size == pytest.approx(width / base.hidden_size, rel=0.1)
    assert s.tie_word_embeddings == base.tie_word_embeddings and s.moe is None
    assert s.dtype == "float32" and 2 <= s.num_layers <= 8
    assert s.weight_bytes() <= CPU_WEIGHT_BUDGET_BYTES
    assert cpu_spec(base) == s  # deterministic: validate rebuilds the same model


def test_cpu_spec_narrows_heads_only_when_a_group_must_fit() -> None:
    s = cpu_spec(load_model("llama-3.1-405b"))  # 128 heads over 8 KV heads: a group of 16
    assert s.num_attention_heads // s.num_kv_heads == 16
    assert s.head_dim_eff == 32 and s.hidden_size == 512


def test_cuda_spec_keeps_shapes_and_drops_layers_to_fit() -> None:
    s8 = cuda_spec(load_model("llama-3.1-8b"), H100_MEMORY_BYTES)
    assert s8.num_layers == 32 and s8.hidden_size == 4096 and s8.dtype == "bfloat16"
    s405 = cuda_spec(load_model("llama-3.1-405b"), H100_MEMORY_BYTES)
    assert 2 <= s405.num_layers < 126 and s405.weight_bytes() <= 0.4 * H100_MEMORY_BYTES


def test_notes_round_trip_and_garbage() -> None:
    s = cpu_spec(load_model("llama-3.1-8b"))
    spec, settings = notes_to_spec(spec_to_notes(s, {"threads": 1, "device": "cpu"}))
    assert spec == s and settings == {"threads": 1, "device": "cpu"}
    assert notes_to_spec("free text") == (None, {})
    assert notes_to_spec(None) == (None, {})


def test_validate_refuses_a_profile_calibrated_on_another_device() -> None:
    notes = spec_to_notes(cpu_spec(load_model("llama-3.1-8b")), {"device": "cuda"})
    with pytest.raises(MagicplanError, match="--device cuda"):
        validation_spec(notes, "cpu", None)
    spec, _ = validation_spec(None, "cpu", None)  # a datasheet profile: the default model
    assert spec == cpu_spec(load_model("llama-3.1-8b"))


@pytest.mark.parametrize("table", [grids.CPU_GRIDS, grids.CUDA_GRIDS])
def test_validation_points_are_never_calibration_points(table: dict[str, Grid]) -> None:
    def key(p: object) -> tuple[object, ...]:
        return (p.kind, p.batch, p.context, p.gamma)  # type: ignore[attr-defined]

    seen = {key(p) for mode in ("quick", "full") for p in table[mode].points()}
    assert not seen & {key(p) for p in table["validate"].points()}


def test_memory_trims_long_contexts() -> None:
    spec = cuda_spec(load_model("llama-3.1-8b"), H100_MEMORY_BYTES)
    full = grids.run_plan("cuda", "quick", spec, H100_MEMORY_BYTES).grid
    small = grids.run_plan("cuda", "quick", spec, 24e9).grid
    assert max(small.contexts) < max(full.contexts)
    with pytest.raises(MagicplanError, match="does not fit"):
        grids.run_plan("cuda", "quick", spec, 1e9)


def test_roofs_from_probe_times() -> None:
    # copy: 2 GB in 0.1 s = 20 GB/s, read: 1 GB in 0.04 s = 25 GB/s, the roof; GEMMs: 2e9 FLOP
    # in 0.02 s beats 1e9 in 0.02 s → 100 GFLOP/s; 100 launches in 300 µs = 3 µs each; tiny steps
    # of 1 and 3 layers in 150 and 350 µs → 100 µs per layer and 50 µs per step.
    probes = [Probe("copy", int, 2e9), Probe("read", int, 1e9), Probe("gemm_a", int, 1e9)]
    probes += [Probe("gemm_b", int, 2e9), Probe("launch", int, 100)]
    probes += [Probe("tiny_1_layers", int, 0.0), Probe("tiny_3_layers", int, 0.0)]
    r = roofs(probes, np.array([0.1, 0.04, 0.02, 0.02, 300e-6, 150e-6, 350e-6]))
    assert r.copy_bytes_per_s == pytest.approx(20e9)
    assert r.bandwidth_bytes_per_s == pytest.approx(25e9)
    assert r.peak_flops_per_s == pytest.approx(100e9)
    assert r.launch_latency_s == pytest.approx(3e-6)
    assert r.layer_overhead_s == pytest.approx(100e-6)
    assert r.step_overhead_s == pytest.approx(50e-6)


def test_round_robin_timing_shape() -> None:
    calls: list[int] = []
    samples = sample_times([lambda: calls.append(0), lambda: calls.append(1)], "cpu",
                           TimingPlan(warmup=2, repeats=3))  # fmt: skip
    assert samples.shape == (3, 2) and np.all(samples >= 0)
    assert calls == [0, 0, 1, 1] + [0, 1] * 3  # warm-up, then one of each per pass


def test_step_timing_on_tiny_shapes_is_repeatable() -> None:
    spec = cpu_spec(load_model("llama-3.1-8b")).model_copy(
        update={"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                "num_kv_heads": 1, "head_dim": 16, "num_layers": 2, "vocab_size": 64}
    )  # fmt: skip
    grid = Grid((1, 2), (48, 96), (2,), 3, "snapkv", 40)
    bench = StepBench(init_weights(spec), grid, "cpu")
    points = grid.points()
    with torch.inference_mode():
        seconds, best = time_grid(bench, points, TimingPlan(1, 2), probes=[lambda: None])
        for p in points:  # a step restores the cache it found: calling it again gives the same
            call = bench.step_fn(p)
            assert torch.equal(call(), call())
    assert seconds.shape == (len(points),) and np.all(seconds > 0) and best.shape == (1,)
    kinds = {s.kind: s for s in to_samples(spec, grid, points, seconds)}
    assert set(kinds) == {"autoregressive", "draft", "verify"}
    assert kinds["draft"].kv_method == "snapkv" and set(kinds["draft"].kv_budget) == {40.0}
    assert kinds["verify"].num_gpus == 1 and set(kinds["verify"].gamma) == {2.0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(MagicplanError, match="--device cuda"):
        check_device("cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_event_timing_and_decoding() -> None:
    spec = cpu_spec(load_model("llama-3.1-8b")).model_copy(update={"dtype": "bfloat16"})
    w = init_weights(spec, "cuda")
    grid = Grid((1, 2), (256,), (2,), 3, "streamingllm", 64)
    bench = StepBench(w, grid, "cuda")
    with torch.inference_mode():
        seconds, _ = time_grid(bench, grid.points(), TimingPlan(1, 3))
    assert np.all(seconds > 0)
    a = torch.randn(256, 256, device="cuda")
    assert time_once(lambda: a @ a, "cuda") > 0
