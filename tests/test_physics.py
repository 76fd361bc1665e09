"""Quiet physics violations are said (issue 15 item 7): a context beyond the model's trained
positions, tensor parallelism wider than one node, and a full-KV draft never wears a budget."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.estimate import estimate
from magicplan.physics import workload_warnings
from magicplan.planner import plan
from magicplan.planner.analysis import break_even
from magicplan.specs import load_hardware, load_model

runner = CliRunner()


def test_gemma_2_27b_profile_matches_its_published_size() -> None:
    m = load_model("gemma-2-27b")
    assert m.max_position_embeddings == 8192 and (m.sliding_window, m.num_local_layers) == (
        4096,
        23,
    )
    # Derived here like specs.md's counts: 46 × (3·4608·36864 + 4608·128·(32+2·16) + 32·128·4608
    # + 4·4608) + 256000·4608 + 4608 = 27,227,128,320 (Google: "27.2B").
    assert m.num_parameters == 27_227_128_320


def test_context_beyond_max_positions_warns_everywhere() -> None:
    hw, gemma = load_hardware("h100-sxm"), load_model("gemma-2-27b")
    needle = "exceeds gemma-2-27b's max_position_embeddings (8,192)"
    assert any(needle in n for n in plan(hw, 4, gemma, 8, 32000)["notes"])
    est = estimate(hw, 4, gemma, 8, 32000, acceptance=0.8)
    assert any(needle in n for n in est["notes"])
    assert any(needle in n for n in break_even(hw, 4, gemma, 8, 32000)["warnings"])
    assert not any("max_position" in n for n in plan(hw, 4, gemma, 8, 8000)["notes"])


def test_tensor_parallel_beyond_one_node_warns() -> None:
    hw, llama = load_hardware("h100-sxm"), load_model("llama-3.1-405b")
    assert hw.gpus_per_node == 8
    notes = plan(hw, 16, llama, 8, 8000)["notes"]
    assert any("spans more than one h100-sxm node" in n for n in notes)
    assert not workload_warnings(hw, 8, llama, 8000)
    assert workload_warnings(load_hardware("h100-nvl"), 4, load_model("llama-3.1-8b"), 8000)


def test_sweep_and_critical_length_print_the_warning() -> None:
    base = ["--hardware", "h100-sxm", "--num-gpus", "4", "--model", "gemma-2-27b"]
    out = runner.invoke(app, ["sweep", *base, "--batches", "8", "--contexts", "32000"])
    assert out.exit_code == 0 and "max_position_embeddings" in " ".join(out.output.split())
    out = runner.invoke(app, ["critical-length", *base, "--batch", "8", "--max-context", "32000"])
    assert out.exit_code == 0 and "max_position_embeddings" in " ".join(out.output.split())


@pytest.mark.parametrize("args", [[], ["--kv-budget", "4096"]])
def test_full_kv_draft_has_no_budget(args: list[str]) -> None:
    base = ["estimate", "--hardware", "h100-sxm", "--num-gpus", "8", "--model", "llama-3.1-8b",
            "--batch", "8", "--context", "8000", "--draft", "llama-3.2-1b", "--kv-method", "full",
            "--acceptance", "0.7", *args]  # fmt: skip
    data = json.loads(runner.invoke(app, [*base, "--json"]).output)
    assert data["kv_budget"] == 0
    text = runner.invoke(app, base).output
    assert "full KV" in text and "full 512" not in text and "full 4096" not in text
