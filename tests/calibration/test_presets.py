"""The shipped engine presets: profiles that load and say what their engines can do, fits that
reproduce the rows they were fitted to (fit quality, not prediction), the kernel checks of
issue 11 item 4, and the row screening and held-out refits behind the reported errors."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.calibration import kernels
from magicplan.calibration.measurements import Measurement, select
from magicplan.calibration.presets import (
    MIN_ROWS_PER_GPU,
    PRESETS,
    EnginePreset,
    bare_engine,
    fit_engine,
    fitted_names,
    held_out,
    preset_rows,
    row_errors,
    shipped_errors,
)
from magicplan.calibration.screening import resident_bytes, screen, served_model
from magicplan.specs import load_engine
from magicplan.specs.calibration import set_values
from magicplan.specs.registry import DEFAULT_ENGINE, list_engines
from magicplan.units import GB, MS

TOLERANCE = 0.005  # provenance figures are rounded to 4 decimals; ±0.5 % of error


# (a) every shipped profile loads and says what its engine can run ---------------------------


def test_every_engine_profile_loads_with_consistent_speculative_fields() -> None:
    engines = {e.id: e for e in list_engines()}
    assert DEFAULT_ENGINE == "vllm" and "vllm" in engines
    assert set(PRESETS) | {"magicdec"} == set(
        engines
    )  # every profile but MagicDec's is fitted here
    for e in engines.values():
        spec = e.speculative
        # Only vLLM (V1 and V0) and SGLang take an exported speculative config; only MagicDec's
        # research engine drafts over a compressed KV cache.
        assert spec.export == {"vllm": "vllm", "vllm-v0": "vllm", "sglang": "sglang"}.get(e.id)
        assert spec.compressed_draft_kv == (e.id == "magicdec"), e.id
        assert spec.export is None or spec.draft_kinds, e.id
        assert set(set_values(e.parameters)) >= {"step_overhead_us", "layer_overhead_us"}
    assert engines["deepspeed-mii"].speculative.draft_kinds == []
    assert not engines["hf-transformers"].cuda_graphs and engines["vllm"].cuda_graphs


def test_each_preset_names_its_profile_and_only_well_measured_gpus() -> None:
    for name, preset in PRESETS.items():
        assert preset.engine == name
        rows, _ = preset_rows(preset)
        assert rows, name
        for gpu, params in preset.per_hardware.items():
            n = sum(m.gpu == gpu for m in rows)
            assert n >= MIN_ROWS_PER_GPU, f"{name} on {gpu}: {n} rows"
            cal = load_engine(preset.engine).calibration_on(gpu)
            assert cal is not None and set(params) <= set(set_values(cal.values)), (name, gpu)


# (b) fit quality: each shipped profile reproduces its rows as its provenance says ----------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_fit_quality_shipped_profile_reproduces_its_fitted_rows(name: str) -> None:
    """In sample: the rows the profile was fitted to, under the shipped numbers, have the
    median and max |error| its provenance claims (this checks the fit, not a prediction)."""
    preset = PRESETS[name]
    engine = load_engine(preset.engine)
    pairs = shipped_errors(preset)
    err = np.abs([e for _, e in pairs])
    prov = engine.provenance
    assert prov is not None and prov.rows == len(pairs)
    assert abs(np.median(err) - (prov.median_abs_error or 0)) <= TOLERANCE
    assert abs(err.max() - (prov.max_abs_error or 0)) <= TOLERANCE
    for gpu in preset.per_hardware:
        cal = engine.calibration_on(gpu)
        assert cal is not None
        mine = np.abs([e for m, e in pairs if m.gpu == gpu])
        assert cal.provenance.rows == mine.size
        assert abs(np.median(mine) - (cal.provenance.median_abs_error or 0)) <= TOLERANCE
        assert abs(mine.max() - (cal.provenance.max_abs_error or 0)) <= TOLERANCE


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_refit_reproduces_the_shipped_values(name: str) -> None:
    """The fit is reproducible: refitting the preset gives the profile's numbers (4 digits)."""
    preset = PRESETS[name]
    engine = load_engine(preset.engine)
    fit = fit_engine(preset)
    for key, value in fit.values.items():
        param, _, gpu = key.partition("@")
        rates = engine.calibration_on(gpu).values if gpu else engine.parameters  # type: ignore[union-attr]
        assert getattr(rates, param) == pytest.approx(value, rel=1e-3, abs=1e-6), key


# (c) issue 11 item 4: kernels against the published kernel rows ----------------------------


def test_linear_layers_within_10_percent_of_vidur_on_a100_and_h100_but_two_rows() -> None:
    """One decoder layer's GEMMs (QKV, O, gate/up, down) from 1 to 4096 tokens under the shipped
    achieved rates. A100: all 24 rows within 10 % (max 9.7 %, median 3.3 %). H100 (16 rows,
    median 3.6 %): all within 10 % but vd13 (−14.4 %: Llama-2-7B at 256 tokens, 44 % slower
    than at 128 tokens while 512 tokens are only 27 % slower again, a step no smooth GEMM curve
    follows) and vd39 (−10.8 %: Llama-2-70B TP4 at 1024 tokens)."""
    for gpu, worst, outliers in (("a100-80gb-sxm", 0.10, ()), ("h100-sxm", 0.15, ("vd13", "vd39"))):
        rows = kernels.linear_rows(gpu)
        err = np.abs(kernels.achieved_errors(rows))
        assert len(rows) >= 16 and np.median(err) <= 0.04 and err.max() <= worst, gpu
        others = [e for m, e in zip(rows, err, strict=True) if m.id not in outliers]
        assert max(others) <= 0.10, gpu
    h100 = dict(
        zip(
            [m.id for m in kernels.linear_rows("h100-sxm")],
            kernels.achieved_errors(kernels.linear_rows("h100-sxm")),
            strict=True,
        )
    )
    assert h100["vd39"] >= -0.11


def _attention(kernel: str, engine: str, gpu: str | None) -> list[tuple[Measurement, float]]:
    spec = load_engine(engine)
    values = set_values(spec.parameters)
    if gpu is not None:
        cal = spec.calibration_on(gpu)
        assert cal is not None
        values |= set_values(cal.values)
    names = kernels.ATTENTION
    rows = kernels.attention_rows(kernel)
    errors = kernels.attention_errors(rows, {k: values[k] for k in names})
    return list(zip(rows, errors, strict=True))


def test_decode_attention_within_15_percent_of_kernel_rows_floor_included() -> None:
    """The attention parameters the profiles ship, per call (roofline + per-call floor):
    flash-decoding on A100 (vLLM's engine-level values), FA3 paged on H100 (vLLM's Hopper
    calibration) and FA2 paged on H100 (vLLM V0's). fd03 (batch 64 × 1024 keys: 77.7 µs, 33 %
    above its neighbours, which no monotone kernel model follows) is −19 %; every other row is
    within 15 % and the median within 8 %."""
    pairs = (
        _attention("flash-decoding", "vllm", None)
        + _attention("fa3-paged", "vllm", "h100-sxm")
        + _attention("fa2-paged", "vllm-v0", "h100-sxm")
    )
    err = {m.id: e for m, e in pairs}
    assert len(err) == 17
    assert -0.21 <= err.pop("fd03") <= -0.17
    assert max(abs(e) for e in err.values()) <= 0.15
    assert np.median(np.abs(list(err.values()))) <= 0.08


def test_gpt_fast_batch1_tensor_parallel_scaling_within_10_percent() -> None:
    """gpt-fast's README table, TP 1/2/4/8 on A100 and one MI250X GCD, under the shipped
    gpt-fast profile."""
    pairs = [pair for pair in shipped_errors(PRESETS["gpt-fast"]) if pair[0].id.startswith("gf")]
    assert sorted(m.num_gpus for m, _ in pairs) == [1, 1, 2, 2, 4, 4, 8, 8]
    assert {m.gpu for m, _ in pairs} == {"a100-80gb-sxm", "mi250x-gcd"}
    assert max(abs(e) for _, e in pairs) <= 0.10


# Row screening, with hand-derived numbers ---------------------------------------------------


def _row(**kw: object) -> Measurement:
    base: dict[str, object] = dict(
        id="t1", source="test", kind="decode_step", engine="test", gpu="a100-80gb-sxm",
        num_gpus=1, model="llama-2-7b", dtype="float16", batch=1, context=100, tokens=1,
        measured_s=10 * MS, note="",
    )  # fmt: skip
    return Measurement(**(base | kw))  # type: ignore[arg-type]


def test_resident_bytes_is_weights_plus_the_batch_kv_cache() -> None:
    # Llama-2-7B fp16: 32 layers × 2 (K, V) × 32 KV heads × 128 × 2 bytes = 524,288 bytes per
    # token; 64 × 3072 tokens = 103.08 GB, on top of 6.738e9 parameters × 2 bytes = 13.48 GB.
    m = _row(batch=64, context=3072)
    kv = 64 * 3072 * 32 * 2 * 32 * 128 * 2
    weights = served_model(m).weight_bytes()
    assert weights == pytest.approx(13.48 * GB, rel=0.01)
    assert resident_bytes(m, served_model(m)) == pytest.approx(weights + kv, rel=1e-9)


def test_screen_drops_impossible_rows_with_their_reason() -> None:
    # 13.48 GB of weights at the A100's 2.039 TB/s take at least 6.6 ms: 6.0 ms is impossible.
    fast, fine = _row(id="fast", measured_s=6.0 * MS), _row(id="fine", measured_s=9.5 * MS)
    # KV of 64 × 3072 tokens (103 GB) does not fit in 85.9 GB.
    big = _row(id="big", batch=64, context=3072, measured_s=50 * MS)
    # 38.65 GB of KV (64 × 1152 × 524,288 bytes) exceeds half of the 72.4 GB left after the
    # weights (36.2 GB); 32 × 1152 (19.3 GB) does not.
    half = _row(id="half", batch=64, context=1152, measured_s=30 * MS)
    ok = _row(id="ok", batch=32, context=1152, measured_s=21 * MS)
    # 16 × 3000 more tokens are 25.17 GB more KV: at least 12.34 ms more at 2.039 TB/s; 10.5 ms
    # more falls short by more than the 3 % noise allowance (0.6 ms), though 19.5 ms alone is
    # above the longer row's own floor.
    short = _row(id="short", batch=16, context=100, measured_s=9.0 * MS)
    flat = _row(id="flat", batch=16, context=3100, measured_s=19.5 * MS)
    flagged = _row(id="flagged", note="prefill_est=40% (LOW-CONFIDENCE)")
    kept, dropped = screen([fast, fine, big, half, ok, short, flat, flagged], kv_budget=0.5)
    assert [m.id for m in kept] == ["fine", "ok", "short"]
    assert dropped["fast"].startswith("faster than peak")
    assert dropped["big"].startswith("not resident: weights + KV")
    assert dropped["half"].startswith("not resident: KV of 64 × 1152 tokens = 39 GB")
    assert dropped["flat"].startswith("too flat in context: short → flat")
    assert dropped["flagged"] == "marked LOW-CONFIDENCE"


def test_lmdeploy_rows_beyond_its_kv_budget_are_left_out() -> None:
    _, dropped = preset_rows(PRESETS["lmdeploy"])
    assert {"lmd08", "lmd11", "lmd16", "lmd19"} <= set(dropped)  # 0.5 of the free memory
    assert {"lmd12", "lmd17", "lmd20", "lmd21"} <= set(dropped)  # beyond the whole GPU


# Held-out refits ----------------------------------------------------------------------------


def test_a_gpu_left_out_is_predicted_without_its_own_calibration() -> None:
    """Leave-one-GPU-out refits on the other GPUs' rows and predicts the held-out GPU with the
    engine's values only: MLC's RTX 4090 rows, held out, use the 4090's default rates, not the
    shipped 4090 calibration (which reproduces them within 0.5 %)."""
    preset = EnginePreset(
        engine="mlc-llm", rows="lpb(0[47]|10|13)", free=("layer_overhead_us",),
        per_hardware={"rtx-4090": ("memory_efficiency",)},
    )  # fmt: skip
    out = dict((m.id, e) for m, e in held_out(preset, "gpu"))
    assert set(out) == {"lpb04", "lpb07", "lpb13", "lpb10"}
    train = [m for m in preset_rows(preset)[0] if m.gpu != "rtx-4090"]
    assert fitted_names(preset, train) == ["layer_overhead_us"]
    values = fit_engine(preset, train).values
    test = [m for m in preset_rows(preset)[0] if m.gpu == "rtx-4090"]
    expected = row_errors(bare_engine(preset), test, {}, values)
    assert [out[m.id] for m in test] == pytest.approx(expected)
    assert all(abs(e) > 0.05 for e in expected)  # the default rates miss what MLC reaches


def test_all_decode_rows_come_from_the_two_measurement_files() -> None:
    rows = select(".*", "decode_step")
    assert len({m.id for m in rows}) == len(rows)


def test_marlin_rates_are_shared_where_the_profiles_cite_them() -> None:
    """vLLM V1 and SGLang cite vLLM V0's fit of the Marlin GPTQ/AWQ kernels for their weight-only
    rates: the numbers must be the same."""
    v0 = load_engine("vllm-v0").parameters
    for engine in ("vllm", "sglang"):
        p = load_engine(engine).parameters
        assert p.int8_weight_efficiency == v0.int8_weight_efficiency, engine
        assert p.int4_weight_efficiency == v0.int4_weight_efficiency, engine
