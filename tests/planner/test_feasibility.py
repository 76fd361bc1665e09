"""Infeasible workloads (issue 15 item 3): the plan says it does not fit, the memory it needs,
and the largest batch and context that do; a workload where only plain AR fits is not told
that AR is "fastest"; the table view never prints an empty table without saying why."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.cost.memory import memory_per_gpu
from magicplan.planner import plan
from magicplan.planner.analysis import best_speculative
from magicplan.specs import load_hardware, load_model

USABLE_GB = 80 * 2**30 / 1e9 * 0.9  # h100-sxm: 80 GiB (datasheet) × vLLM's default utilization


def _ar_gb(model: Any, n: int, batch: int, context: int) -> float:
    return float(memory_per_gpu(model, n, batch, context, speculative=False)["total"]) / 1e9


def test_does_not_fit_says_what_it_needs_and_what_fits(h100: Any, llama70b: Any) -> None:
    r = plan(h100, 4, llama70b, 64, 100000)
    fit = r["feasibility"]
    assert r["best"] is None and not fit["fits"]
    assert fit["memory_needed_per_gpu_gb"] == pytest.approx(_ar_gb(llama70b, 4, 64, 100000))
    assert fit["memory_usable_per_gpu_gb"] == pytest.approx(USABLE_GB)
    b, s = fit["largest_batch_that_fits"], fit["largest_context_that_fits"]
    assert _ar_gb(llama70b, 4, b, 100000) <= USABLE_GB < _ar_gb(llama70b, 4, b + 1, 100000)
    assert _ar_gb(llama70b, 4, 64, s) <= USABLE_GB < _ar_gb(llama70b, 4, 64, s + 1)
    text = r["recommendation"]
    assert "does not fit in memory" in text and f"{fit['memory_needed_per_gpu_gb']:.1f} GB" in text
    assert (
        f"largest batch that fits is {b}" in text and f"largest context that fits is {s:,}" in text
    )


def test_weights_alone_too_big(h100: Any, llama70b: Any) -> None:
    r = plan(h100, 1, llama70b, 8, 4000)
    assert r["feasibility"]["largest_batch_that_fits"] == 0
    assert r["feasibility"]["weights_per_gpu_gb"] == pytest.approx(_ar_gb(llama70b, 1, 0, 4000))
    assert "weights alone" in r["recommendation"] and "more GPUs" in r["recommendation"]


def test_only_plain_ar_fits_is_not_called_fastest() -> None:
    hw, target = load_hardware("h200-sxm"), load_model("llama-3.1-70b")
    kw = {"drafts": [load_model("llama-3.2-1b")], "kv_methods": ["full"]}
    r = plan(hw, 8, target, 45, 64000, **kw)
    fit = r["feasibility"]
    assert r["best"]["draft_model"] == "none" and not fit["speculation_fits"]
    assert "no speculative strategy fits in memory" in r["recommendation"]
    assert "fastest" not in r["recommendation"]
    most = fit["largest_batch_with_speculation"]
    assert best_speculative(plan(hw, 8, target, most, 64000, **kw)) is not None
    assert best_speculative(plan(hw, 8, target, most + 1, 64000, **kw)) is None
    assert any(f"speculation fits up to batch {most}" in n for n in r["notes"])


def test_table_view_never_prints_an_empty_table() -> None:
    args = ["plan", "--hardware", "h100-sxm", "--num-gpus", "4", "--model", "llama-3.1-70b",
            "--batch", "64", "--context", "100000"]  # fmt: skip
    out = CliRunner().invoke(app, args)
    text = " ".join(out.output.split())  # the console wraps at 80 columns
    assert out.exit_code == 0 and "no strategy qualifies" in text
    assert "┏" not in text  # no table frame around nothing
    assert "does not fit in memory" in text


def test_break_even_blames_memory_not_speed(h100: Any, llama70b: Any) -> None:
    from magicplan.planner.analysis import break_even

    r = break_even(h100, 4, llama70b, 64, 100000)
    assert r["break_even_acceptance"] is None and "nothing fits in memory" in r["note"]
    assert "every drafted token" not in r["note"]
