"""Engine export: what the engine cannot express is said with the speedup given up (issue 15
item 2), an infeasible workload is never told to "run without a draft" (item 3), and without a
batch size the table covers every batch that fits (issue 13 item 6)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from magicplan.cli import app
from magicplan.planner import plan
from magicplan.planner.export import export, export_batches
from magicplan.specs import load_hardware, load_model

ISSUE = ["--hardware", "h200-sxm", "--num-gpus", "8", "--model", "llama-3.1-70b"]
SMALL = ["llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"]  # the shipped separate drafts


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_what_the_export_drops_is_said(engine: str, h200: Any, llama70b: Any) -> None:
    # The planner's best is llama-3.2-1b over a StreamingLLM-512 cache (1.97×); the engines
    # keep a draft's full KV cache, so the config is the full-KV strategy (1.67×).
    # (Separate draft models: the EAGLE-3 chain both engines run is faster still, below.)
    kw = {"drafts": SMALL}
    r = plan(h200, 8, llama70b, 32, 64000, **kw)
    e = export(engine, r, h200, 8, llama70b, **kw)
    best, chosen, dropped = r["best"], e["exported_strategy"], e["dropped"]
    assert best["kv_method"] == "streamingllm" and chosen["kv_method"] == "full"
    assert dropped["planner_best"]["kv_method"] == "streamingllm"
    assert dropped["speedup_given_up"] == pytest.approx(best["speedup"] - chosen["speedup"])
    text = e["limitations"][0]
    assert "not expressible" in text and "compressed" in text
    assert f"{best['speedup']:.2f}×" in text and f"{chosen['speedup']:.2f}×" in text
    assert f"giving up {best['speedup'] - chosen['speedup']:.2f}×" in text


def test_an_export_faster_than_the_plans_best_says_so(h200: Any, llama70b: Any) -> None:
    # Planned on MagicDec's engine (no drafting families), exported for vLLM: vLLM's EAGLE-3
    # chain, priced on the same step costs, beats the plan's best; nothing is given up.
    r = plan(h200, 8, llama70b, 32, 64000, engine="magicdec")
    e = export("vllm", r, h200, 8, llama70b, engine="magicdec")
    chosen, dropped = e["exported_strategy"], e["dropped"]
    assert chosen["draft_model"] == "eagle3" and chosen["tree_tokens"] == chosen["gamma"] + 1
    assert chosen["speedup"] > r["best"]["speedup"] and dropped["speedup_given_up"] == 0.0
    assert e["limitations"][0].startswith("the config (EAGLE-3 draft head, full KV, γ=")
    assert "is faster than the planner's best" in e["limitations"][0]
    assert "the plan's engine (magicdec) cannot run it" in e["limitations"][0]


def test_an_export_from_a_plan_whose_best_is_plain_ar_says_what_it_configures() -> None:
    # Transformers speculates at batch 1 only: its plan at batch 8 is plain AR; exported for
    # vLLM, the config speculates, and `dropped` says why (it was null).
    h100, target = load_hardware("a100-80gb-sxm"), load_model("llama-3.1-8b")
    r = plan(h100, 1, target, 8, 4000, engine="hf-transformers")
    assert r["best"]["draft_model"] == "none"
    e = export("vllm", r, h100, 1, target, engine="hf-transformers")
    assert e["exported_strategy"]["draft_model"] != "none"
    assert e["dropped"]["text"].startswith("the planner's best on hf-transformers is plain AR")
    # the config is vLLM V1's (the plan's engine is not a vLLM): γ per batch size kept
    assert "num_speculative_tokens_per_batch_size" in e["speculative_config"]


def test_nothing_to_drop_when_the_best_is_expressible(h200: Any, llama70b: Any) -> None:
    kw = {"drafts": [load_model("llama-3.2-1b")], "kv_methods": ["full"]}
    r = plan(h200, 8, llama70b, 32, 64000, **kw)
    e = export("vllm", r, h200, 8, llama70b, **kw)
    assert e["dropped"] is None and not any("not expressible" in x for x in e["limitations"])


def test_export_never_says_run_without_a_draft_when_nothing_fits() -> None:
    h100, target = load_hardware("h100-sxm"), load_model("llama-3.1-70b")
    r = plan(h100, 4, target, 64, 100000)
    e = export("vllm", r, h100, 4, target)
    assert e["speculative_config"] is None
    assert not any("run without a draft" in x for x in e["limitations"])
    assert any("does not fit in memory" in x and "largest batch" in x for x in e["limitations"])


def test_export_without_batch_covers_every_batch_that_fits() -> None:
    drafts = ["--draft", "self,llama-3.2-1b"]  # a draft model's table (families: test_families)
    out = CliRunner().invoke(
        app, ["plan", *ISSUE, *drafts, "--context", "64000", "--export", "vllm"]
    )
    assert out.exit_code == 0, out.output
    e = json.loads(out.output)
    table = e["num_speculative_tokens_per_batch_size"]
    assert table[0][0] == 1 and table[-1][1] == 45  # the largest batch plain AR fits
    assert all(hi + 1 == lo for (_, hi, _), (lo, _, _) in itertools.pairwise(table))
    assert e["batch"] is None and e["speculative_config"]["num_speculative_tokens_per_batch_size"]
    with_batch = json.loads(
        CliRunner()
        .invoke(
            app,
            ["plan", *ISSUE, *drafts, "--context", "64000", "--batch", "32", "--export", "vllm"],
        )
        .output
    )
    assert with_batch["num_speculative_tokens_per_batch_size"] == table  # same draft, same table


def test_an_export_without_a_draft_it_can_run_says_why() -> None:
    h100, target = load_hardware("h100-sxm"), load_model("llama-3.1-8b")
    r = plan(h100, 1, target, 16, 8000, drafts=["self"], engine="vllm")
    e = export("vllm", r, h100, 1, target, drafts=["self"], engine="vllm")
    assert e["speculative_config"] is None
    assert "vllm runs none of the drafts asked (self): nothing to configure" in e["limitations"]
    # Medusa, which vLLM drafts as a chain, has no chain τ: never evaluated, nothing exported.
    e = export_batches("vllm", h100, 1, target, 8000, drafts=["medusa"], engine="vllm")
    assert e["speculative_config"] is None
    assert any("no acceptance for the drafts vllm runs here" in x for x in e["limitations"])
    # A plan that could not evaluate any speculative strategy says so, not "does not fit".
    m = plan(h100, 1, target, 16, 8000, drafts=["medusa"], engine="vllm")
    assert "no speculative strategy could be planned" in m["recommendation"]
    assert m["feasibility"]["speculative_candidates"] == 0


def test_an_export_planned_on_vllm_v0_is_what_vllm_v0_runs() -> None:
    # vLLM V0 (the plan's engine) writes the vllm config: its features bound the export (no
    # EAGLE-3), and it takes one K per server (no per-batch-size key in the config).
    h100, target = load_hardware("h100-sxm"), load_model("llama-3.1-8b")
    r = plan(h100, 1, target, 16, 16000, engine="vllm-v0")
    e = export("vllm", r, h100, 1, target, engine="vllm-v0")
    cfg = e["speculative_config"]
    assert cfg["method"] in ("ngram", "eagle", "medusa", "draft_model")
    assert "num_speculative_tokens_per_batch_size" not in cfg
    assert cfg["num_speculative_tokens"] == e["exported_strategy"]["gamma"]
    assert any(x.startswith("vllm-v0 runs one num_speculative_tokens per server")
               for x in e["limitations"])  # fmt: skip
    v1 = export("vllm", plan(h100, 1, target, 16, 16000, engine="vllm"), h100, 1, target,
                engine="vllm")  # fmt: skip
    assert "num_speculative_tokens_per_batch_size" in v1["speculative_config"]
