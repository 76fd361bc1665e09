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
    setup = Setup(hardware=h100, num_gpus=8, target=load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    batch = np.array([16, 64, 256])
    vec = estimate_arrays(setup, batch, 32000, 3, 512, acceptance=0.8)
    for i, b in enumerate(batch):
        one = estimate_arrays(setup, int(b), 32000, 3, 512, acceptance=0.8)
        assert float(vec["speedup"][i]) == pytest.approx(float(one["speedup"]))


def test_columns_subset_gives_the_same_numbers(h100: object) -> None:
    setup = Setup(hardware=h100, num_gpus=8, target=load_model("llama-3.1-8b"))  # type: ignore[arg-type]
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
    setup = Setup(hardware=h100, num_gpus=8, target=load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    n = CHUNK * 2 + 5
    batch = np.resize(np.arange(1, 300), n)
    out = estimate_arrays(setup, batch, 32000, 3, 512, acceptance=0.8)
    assert out["memory.weights_gb"].strides == (0,)
    assert out["speedup"].shape == (n,) and out["speedup"].strides == (8,)
    one = estimate_arrays(setup, batch[-5:], 32000, 3, 512, acceptance=0.8)
    for key in ("speedup", "memory.weights_gb", "fits_in_memory", "breakdown.verify.compute_ms"):
        np.testing.assert_allclose(out[key][-5:], one[key], rtol=1e-12)


def test_bad_row_in_a_late_block_is_named(h100: object) -> None:
    setup = Setup(hardware=h100, num_gpus=8, target=load_model("llama-3.1-8b"))  # type: ignore[arg-type]
    batch = np.ones(CHUNK * 3)
    batch[-1] = 0.5
    with pytest.raises(MagicplanError, match="batch must be a finite integer"):
        estimate_arrays(setup, batch, 32000, 3, 512, acceptance=0.8)


def test_vocab_mismatch_is_refused(h100: object) -> None:
    with pytest.raises(MagicplanError, match="vocab"):
        Setup(
            hardware=h100,
            num_gpus=8,
            target=load_model("llama-3.1-8b"),
            draft=load_model("tinyllama-1.1b"),
        )  # type: ignore[arg-type]


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
        Setup(hardware=h100, num_gpus=4, target=target, draft=draft, draft_num_gpus=8)  # type: ignore[arg-type]


# --- the API takes what the CLI takes (issue 15.8, 15.9) --------------------------------------


def test_ids_repo_ids_and_paths_as_well_as_specs() -> None:
    from magicplan.specs.registry import profiles_dir

    by_spec = estimate(load_hardware("h100-sxm"), 8, load_model("llama-3.1-8b"), 16, 8192, 3,
                       draft=load_model("llama-3.2-1b"), acceptance=0.8)  # fmt: skip
    hw_path = profiles_dir("hardware_profiles") / "h100-sxm.yaml"
    profile = profiles_dir("model_profiles") / "llama-3.1-8b.yaml"
    for hw, target, draft in [
        ("h100-sxm", "llama-3.1-8b", "llama-3.2-1b"),
        ("h100-sxm", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.2-1B"),
        (hw_path, profile, "llama-3.2-1b"),
        (str(hw_path), str(profile), "meta-llama/Llama-3.2-1B"),
    ]:
        r = estimate(hw, 8, target, 16, 8192, 3, draft=draft, acceptance=0.8)
        assert r["speedup"] == by_spec["speedup"] and r["target"] == "llama-3.1-8b"


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"hardware": 3}, "hardware must be"),
        ({"target": None}, "target must be"),
        ({"draft": 1.5}, "draft must be"),
    ],
)
def test_wrong_kind_of_spec_is_one_clear_error(kwargs: dict, names: str) -> None:
    args = {"hardware": "h100-sxm", "target": "llama-3.1-8b"} | kwargs
    draft = args.pop("draft", None)
    with pytest.raises(MagicplanError, match=names):
        estimate(args["hardware"], 8, args["target"], 16, 8192, draft=draft, acceptance=0.8)


def test_array_arguments_broadcast_into_lists() -> None:
    r = estimate("h100-sxm", 8, "llama-3.1-8b", np.array([8, 12]), 32000, 3, acceptance=0.8)
    one = [estimate("h100-sxm", 8, "llama-3.1-8b", b, 32000, 3, acceptance=0.8) for b in (8, 12)]
    assert r["batch"] == [8, 12]
    assert r["speedup"] == [o["speedup"] for o in one]
    assert r["bottleneck"] == [o["bottleneck"] for o in one]
    assert r["fits_in_memory"] == [True, True]
    grid = estimate("h100-sxm", 8, "llama-3.1-8b", np.array([[1], [64]]), np.array([4000, 64000]),
                    3, acceptance=0.8)  # fmt: skip
    assert np.shape(grid["speedup"]) == (2, 2)
    import json

    json.dumps(grid, allow_nan=False)  # JSON-ready


def test_signature_is_keyword_after_gamma() -> None:
    with pytest.raises(TypeError):
        estimate("h100-sxm", 8, "llama-3.1-8b", 16, 8192, 3, None)  # type: ignore[misc]


def test_draft_that_cannot_split_runs_on_fewer_gpus() -> None:
    """MagicDec table 7: a Qwen2.5-7B draft (28 heads, 4 KV heads) for Qwen2.5-32B on 8 GPUs
    runs on 4 (the largest divisor of 8 that divides 28 and 4), and the output says so."""
    r = estimate("h100-sxm", 8, "qwen2.5-32b", 16, 32000, 3, draft="qwen2.5-7b", acceptance=0.8)
    assert r["draft_num_gpus"] == 4
    assert any("draft_num_gpus=4" in n and "qwen2.5-7b" in n for n in r["notes"])
    tp4 = estimate("h100-sxm", 8, "qwen2.5-32b", 16, 32000, 3, draft="qwen2.5-7b",
                   draft_num_gpus=4, acceptance=0.8)  # fmt: skip
    assert tp4["speedup"] == r["speedup"] and not any("cannot split" in n for n in tp4["notes"])


def test_memory_utilization_sets_the_usable_memory() -> None:
    def run(u: float) -> dict:
        return estimate("h100-sxm", 1, "llama-3.1-8b", 32, 8000, 3, acceptance=0.8,
                        memory_utilization=u)  # fmt: skip

    low, default, full = run(0.5), run(0.9), run(1.0)
    assert default == estimate("h100-sxm", 1, "llama-3.1-8b", 32, 8000, 3, acceptance=0.8)
    assert not low["fits_in_memory"] and default["fits_in_memory"]
    # 10 % of 85.9 GB is 8.59 GB; one more sequence of 8,000 tokens holds 8000 × 131,072 B of
    # bf16 KV (1.05 GB) plus activations, so 8 more sequences fit at 1.0 than at 0.9.
    assert full["max_batch"] - default["max_batch"] == 8
    with pytest.raises(MagicplanError, match="memory_utilization"):
        run(1.5)


def test_estimate_says_what_the_engine_cannot_run() -> None:
    # vLLM runs neither self-speculation nor a compressed draft cache: the estimate prices it on
    # vLLM's step costs and says so; a strategy vLLM runs gets no such note.
    from magicplan.estimate import estimate

    kw = {"acceptance": 0.8}
    notes = estimate("h100-sxm", 1, "llama-3.1-8b", 16, 8000, engine="vllm", **kw)["notes"]
    assert notes[0].startswith("vllm cannot run self-speculation")
    own = estimate("h100-sxm", 1, "llama-3.1-8b", 16, 8000, engine="vllm", draft="llama-3.2-1b",
                   kv_method="full", **kw)["notes"]  # fmt: skip
    assert not any("cannot run" in n for n in own)


def test_estimate_fills_memory_as_the_engine_does() -> None:
    # SGLang fills 0.88 of memory (its profile): estimate and plan agree on the batch that fits.
    from magicplan.estimate import estimate
    from magicplan.planner import plan

    kw = {"engine": "sglang"}
    e = estimate("h100-sxm", 1, "llama-3.1-8b", 1, 4000, acceptance=0.8, draft="llama-3.2-1b",
                 kv_method="full", **kw)  # fmt: skip
    p = plan("h100-sxm", 1, "llama-3.1-8b", 1, 4000, **kw)
    assert e["memory_utilization"] == 0.88
    assert e["max_batch"] == p["feasibility"]["largest_batch_that_fits"]
    given = estimate("h100-sxm", 1, "llama-3.1-8b", 1, 4000, acceptance=0.8,
                     memory_utilization=0.5, **kw)  # fmt: skip
    assert given["memory_utilization"] == 0.5


def test_axes_that_do_not_broadcast_are_one_error() -> None:
    # Two batches against three contexts raised numpy's ValueError (a traceback at the CLI).
    from magicplan.errors import MagicplanError
    from magicplan.estimate import estimate

    with pytest.raises(
        MagicplanError, match=r"broadcast together; got batch \(2,\), context \(3,\)"
    ):
        estimate("h100-sxm", 1, "llama-3.1-8b", np.array([1, 2]), np.array([4000, 8000, 16000]),
                 acceptance=0.8)  # fmt: skip
