"""`estimate`: the JSON contract, vectorization, and sensible answers to huge but valid input."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.errors import MagicplanError
from magicplan.estimate import CHUNK, COLUMNS, SUMMARY_COLUMNS, estimate, estimate_arrays
from magicplan.setup import Setup
from magicplan.specs import load_hardware, load_model

CONTRACT = (
    "t_autoregressive_ms", "t_draft_ms", "t_verify_ms", "accepted_per_step",
    "t_spec_per_token_ms", "speedup", "throughput_tokens_per_s",
    "autoregressive_throughput_tokens_per_s", "memory_per_gpu_gb", "fits_in_memory",
    "max_batch", "max_batch_with_sd", "breakdown",
)  # fmt: skip


@pytest.fixture(scope="module")
def h100() -> object:
    return load_hardware("h100-sxm")


def test_contract_keys(h100: object) -> None:
    r = estimate(h100, 8, load_model("llama-3.1-8b"), 64, 32000, 3, acceptance=0.8)  # type: ignore[arg-type]
    for key in CONTRACT:
        assert key in r, key
    assert set(r["breakdown"]) == {"autoregressive", "draft", "verify"}
    # Ω(3, 0.8) = 2.952; per-token time = (γ·T_D + T_V + round overhead) / Ω
    assert r["accepted_per_step"] == pytest.approx(2.952)
    assert r["speedup"] == pytest.approx(
        r["t_autoregressive_ms"] / r["t_spec_per_token_ms"], rel=1e-5
    )


def test_vectorized_matches_scalar(h100: object) -> None:
    setup = Setup(h100, 8, load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    batch = np.array([16, 64, 256])
    vec = estimate_arrays(setup, batch, 32000, 3, 512, acceptance=0.8)
    for i, b in enumerate(batch):
        one = estimate_arrays(setup, int(b), 32000, 3, 512, acceptance=0.8)
        assert float(vec["speedup"][i]) == pytest.approx(float(one["speedup"]))


def test_columns_subset_gives_the_same_numbers(h100: object) -> None:
    setup = Setup(h100, 8, load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    batch, context = np.array([1, 64, 256]), np.array([[1024], [32000], [128000]])
    every = estimate_arrays(setup, batch, context, 3, 512, acceptance=0.8)
    assert tuple(every) == COLUMNS
    few = estimate_arrays(
        setup, batch, context, 3, 512, acceptance=0.8, columns=["speedup", "max_batch"]
    )
    assert tuple(few) == ("speedup", "max_batch")  # output order, not the order asked
    for key, value in few.items():
        np.testing.assert_array_equal(value, every[key])
    summary = estimate_arrays(setup, batch, context, 3, 512, 0.8, columns=SUMMARY_COLUMNS)
    for key in SUMMARY_COLUMNS:
        np.testing.assert_allclose(summary[key], every[key], rtol=1e-12)


def test_many_rows_keep_constant_columns_as_views(h100: object) -> None:
    """Rows estimated block by block: varying columns are filled, constant ones (the weights)
    stay one broadcast value; both read the same as a one-pass estimate."""
    setup = Setup(h100, 8, load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    n = CHUNK * 2 + 5
    batch = np.resize(np.arange(1, 300), n)
    out = estimate_arrays(setup, batch, 32000, 3, 512, acceptance=0.8)
    assert out["memory.weights_gb"].strides == (0,)
    assert out["speedup"].shape == (n,) and out["speedup"].strides == (8,)
    one = estimate_arrays(setup, batch[-5:], 32000, 3, 512, acceptance=0.8)
    for key in ("speedup", "memory.weights_gb", "fits_in_memory", "breakdown.verify.compute_ms"):
        np.testing.assert_allclose(out[key][-5:], one[key], rtol=1e-12)


def test_bad_row_in_a_late_block_is_named(h100: object) -> None:
    setup = Setup(h100, 8, load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    batch = np.ones(CHUNK * 3)
    batch[-1] = 0.5
    with pytest.raises(MagicplanError, match="batch must be a finite integer"):
        estimate_arrays(setup, batch, 32000, 3, 512, acceptance=0.8)


def test_vocab_mismatch_is_refused(h100: object) -> None:
    with pytest.raises(MagicplanError, match="vocab"):
        Setup(h100, 8, load_model("llama-3.1-8b"), load_model("tinyllama-1.1b"))  # type: ignore[arg-type]


def test_huge_batch_does_not_fit_and_budget_is_clamped(h100: object) -> None:
    r = estimate(
        h100,
        8,
        load_model("llama-3.1-8b"),
        10**9,
        1000,
        2,
        kv_budget=4096,  # type: ignore[arg-type]
        acceptance=0.8,
    )
    assert r["fits_in_memory"] is False
    assert any("does not fit" in n for n in r["notes"])
    assert any("kv_budget" in n for n in r["notes"])


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("batch", {"batch": 0}),
        ("context", {"context": -5}),
        ("gamma", {"gamma": 0}),
        ("acceptance", {"acceptance": 1.5}),
        ("accepted_per_step", {"accepted_per_step": 9.0}),
    ],
)
def test_bad_numbers_name_the_field(h100: object, field: str, kwargs: dict) -> None:
    args = {"batch": 8, "context": 1000, "gamma": 2, "acceptance": 0.8} | kwargs
    if "accepted_per_step" in kwargs:
        args.pop("acceptance")
    with pytest.raises(MagicplanError, match=field):
        estimate(h100, 8, load_model("llama-3.1-8b"), **args)  # type: ignore[arg-type]


def test_draft_on_fewer_gpus(h100: object) -> None:
    target, draft = load_model("llama-3.1-8b"), load_model("llama-3.2-1b")

    def run(**kw: object) -> dict:
        return estimate(h100, 8, target, 16, 32000, 3, draft=draft, acceptance=0.7, **kw)  # type: ignore[arg-type]

    r, r8 = run(draft_num_gpus=1), run()
    assert r["draft_num_gpus"] == 1 and r8["draft_num_gpus"] == 8
    assert r["t_draft_ms"] != r8["t_draft_ms"]
    with pytest.raises(MagicplanError, match="draft_num_gpus"):
        Setup(h100, 4, target, draft, draft_num_gpus=8)  # type: ignore[arg-type]
