"""What the serving engine can run bounds the plan (issue 11 item 1): a plan for vLLM proposes
only what vLLM runs, says what a strategy beyond it would give, and `--export` agrees with it.

tests/planner/conftest.py makes MagicDec's engine the default for planner tests; these name
their engine, and the one about the real default undoes that."""

from __future__ import annotations

from typing import Any

import pytest

from magicplan.planner import plan
from magicplan.planner.accepted_lengths import lookup_tau, shipped_tau
from magicplan.planner.engine_features import (
    BATCHED,
    COMPRESSED,
    DRAFT_MODEL,
    FAMILIES,
    SELF,
    TREE,
    beyond_report,
    draft_tp_degrees,
    engines_that_run,
    lacks,
    needs_of,
    restrict,
    runnable,
)
from magicplan.planner.export import export
from magicplan.specs import as_draft, list_engines, load_engine, load_hardware, load_model
from tests.cost.conftest import make_cal

WORKLOAD = (8, "llama-3.1-70b", 32, 64000)  # on h200-sxm: test_export.py's issue workload
KEYS = ("draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus", "speedup")
# Separate draft models (EAGLE-3, a chain on vLLM, beats them there: see the tree tests below).
SMALL = ["llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"]


@pytest.fixture(scope="module")
def on_vllm() -> dict[str, Any]:
    return plan("h200-sxm", *WORKLOAD, engine="vllm", drafts=SMALL, top=50)


def test_a_plan_on_vllm_holds_only_what_vllm_runs(on_vllm: dict[str, Any]) -> None:
    assert on_vllm["engine"] == "vllm"
    assert on_vllm["candidates"] and on_vllm["best"]["draft_model"] != "none"
    for c in on_vllm["candidates"]:
        assert c["draft_model"] != "self" and c["kv_method"] in ("full", "none"), c
        assert c["draft_num_gpus"] in (0, 1, 8), c  # vLLM: a draft on 1 GPU or the target's 8


def test_beyond_engine_says_what_the_engine_cannot_run_would_give(
    on_vllm: dict[str, Any],
) -> None:
    beyond, best = on_vllm["beyond_engine"], on_vllm["best"]
    s = beyond["strategy"]
    # MagicDec's strategy, a draft over a StreamingLLM cache, priced on vLLM's step costs: what
    # any_strategy plans on vLLM.
    free = plan("h200-sxm", *WORKLOAD, engine="vllm", drafts=SMALL, any_strategy=True)["best"]
    assert {k: s[k] for k in KEYS} == {k: free[k] for k in KEYS}
    assert s["kv_method"] == "streamingllm" and s["speedup"] > best["speedup"]
    assert beyond["engine"] == "vllm" and beyond["needs"] == [DRAFT_MODEL, COMPRESSED]
    assert beyond["engine_lacks"] == [COMPRESSED]  # vLLM does run a separate draft model
    assert beyond["engines_that_run_it"] == ["magicdec"]
    assert beyond["speedup_given_up"] == pytest.approx(s["speedup"] - best["speedup"])
    (note,) = [n for n in on_vllm["notes"] if "beyond it" in n]
    assert note.startswith(f"vllm cannot run {COMPRESSED}: the best strategy beyond it")
    assert f"would give {s['speedup']:.2f}×" in note and "engines that run it: magicdec" in note
    assert "--any-strategy plans it" in note


def test_any_strategy_plans_everything_on_the_engines_step_costs() -> None:
    r = plan("h200-sxm", *WORKLOAD, engine="vllm", any_strategy=True, top=50)
    assert r["engine"] == "vllm" and r["beyond_engine"] is None
    assert r["best"]["kv_method"] == "streamingllm"
    assert {c["kv_method"] for c in r["candidates"]} >= {"streamingllm", "snapkv"}
    assert not any("beyond it" in n for n in r["notes"])
    # Without `beyond`, nothing beyond is looked for either.
    assert plan("h200-sxm", *WORKLOAD, engine="vllm", beyond=False)["beyond_engine"] is None


def test_the_default_engine_bounds_a_plan_like_vllm(
    monkeypatch: pytest.MonkeyPatch, on_vllm: dict[str, Any]
) -> None:
    monkeypatch.setattr("magicplan.specs.registry.DEFAULT_ENGINE", "vllm")  # undo conftest's
    r = plan("h200-sxm", *WORKLOAD, drafts=SMALL)
    assert r["engine"] == "vllm"
    assert r["best"] == on_vllm["best"] and r["beyond_engine"] == on_vllm["beyond_engine"]


def test_a_hardware_profile_with_its_own_calibration_leaves_nothing_out() -> None:
    h200 = load_hardware("h200-sxm")
    own = h200.model_copy(update={"calibration": make_cal(engine="my-testbed")})
    assert runnable(None, own) is None  # its engine's features are not known
    assert runnable(None, h200) == load_engine()  # the default engine (magicdec here)
    assert runnable(load_engine("sglang"), own) == load_engine("sglang")  # a named one binds
    r = plan(own, *WORKLOAD, kv_methods=["streamingllm"], kv_budgets=[512])
    assert r["engine"] == "my-testbed" and r["beyond_engine"] is None
    assert r["best"]["kv_method"] == "streamingllm"


def test_restrict_by_hand() -> None:
    vllm, sglang, mii = (load_engine(e) for e in ("vllm", "sglang", "deepspeed-mii"))
    d = load_model("llama-3.2-1b")
    methods = ("full", "streamingllm", "snapkv")
    # vLLM: no self-speculation, no compressed draft cache, a draft on 1 or all 8 GPUs.
    drafts, kv, tp, beyond = restrict(vllm, [None, d], methods, None, 8)
    assert drafts == [d] and kv == ("full",) and tp == (1, 8)
    assert beyond == (SELF, COMPRESSED, "a draft on 2, 4 GPUs")
    assert restrict(vllm, [d], ("full",), None, 1) == ([d], ("full",), (1,), ())
    # Only self-speculation over a compressed cache asked for: nothing speculative is left.
    assert restrict(vllm, [None], ("streamingllm",), None, 8)[0] == []
    # SGLang: the draft on the target's GPUs; a degree asked for that it cannot run is said.
    _, _, tp, beyond = restrict(sglang, [d], ("full",), (2, 8), 8)
    assert tp == (8,) and beyond == ("a draft on 2 GPUs",)
    # DeepSpeed-MII runs no draft at all.
    drafts, _, _, beyond = restrict(mii, [None, d], ("full",), None, 4)
    assert drafts == [] and beyond[:2] == (SELF, DRAFT_MODEL)
    # MagicDec's engine, or no engine: everything stays.
    assert restrict(load_engine("magicdec"), [None, d], methods, None, 8) == (
        [None, d], methods, None, ()
    )  # fmt: skip
    assert restrict(None, [None, d], methods, (2,), 8) == ([None, d], methods, (2,), ())


def test_draft_tensor_parallel_rules() -> None:
    vllm, sglang, magicdec = (load_engine(e) for e in ("vllm", "sglang", "magicdec"))
    assert draft_tp_degrees(vllm, 8) == (1, 8) and draft_tp_degrees(vllm, 1) == (1,)
    assert draft_tp_degrees(sglang, 4) == (4,)
    assert draft_tp_degrees(magicdec, 8) is None  # any divisor of the target's GPUs


def test_needs_of_and_engines_that_run() -> None:
    assert needs_of({"draft_model": "self", "kv_method": "streamingllm"}) == [SELF, COMPRESSED]
    assert needs_of({"draft_model": "llama-3.2-1b", "kv_method": "full"}) == [DRAFT_MODEL]
    assert needs_of({"draft_model": "llama-3.2-1b", "kv_method": "topk"}) == [
        DRAFT_MODEL, COMPRESSED,
    ]  # fmt: skip
    every = [e.id for e in list_engines()]
    assert engines_that_run([]) == every
    assert engines_that_run([SELF]) == ["magicdec"]
    assert engines_that_run([DRAFT_MODEL, COMPRESSED]) == ["magicdec"]
    # Every shipped engine that lists draft_model, in id order; not DeepSpeed-MII (no drafts) or
    # LMDeploy (EAGLE-3 and MTP heads only).
    assert engines_that_run([DRAFT_MODEL]) == [
        "exllamav2", "gpt-fast", "hf-transformers", "llama.cpp", "magicdec", "mlc-llm", "sglang",
        "trtllm", "vllm", "vllm-v0",
    ]  # fmt: skip
    # With the draft's and the target's GPUs: SGLang, TensorRT-LLM and gpt-fast run a draft
    # only on the target's GPUs.
    assert "sglang" not in engines_that_run([DRAFT_MODEL], draft_tp=(1, 8))
    assert {"vllm", "magicdec"} <= set(engines_that_run([DRAFT_MODEL], draft_tp=(1, 8)))
    assert "vllm" not in engines_that_run([DRAFT_MODEL], draft_tp=(2, 8))
    assert "sglang" in engines_that_run([DRAFT_MODEL], draft_tp=(8, 8))


def test_a_draft_the_engine_cannot_place_is_said() -> None:
    # Qwen2.5-0.5B (14 heads, 2 KV heads) cannot split over the target's 8 GPUs, where SGLang
    # runs its drafts: on SGLang no draft is planned, and the plan says what a draft on fewer
    # GPUs would give, and which engines place it there.
    kw: dict[str, Any] = {"drafts": ["qwen2.5-0.5b"], "kv_methods": ["full"]}
    r = plan("h100-sxm", 8, "qwen2.5-32b", 16, 8000, engine="sglang", **kw)
    assert r["best"]["draft_model"] == "none"
    beyond = r["beyond_engine"]
    n = beyond["strategy"]["draft_num_gpus"]
    assert n in (1, 2) and beyond["needs"] == [DRAFT_MODEL]  # 14 heads split over 1 or 2
    assert beyond["engine_lacks"] == [f"a draft on {n} of the target's 8 GPUs"]
    # (at batch 16: Transformers, which speculates at batch 1 only, is not among them)
    assert beyond["engines_that_run_it"] == engines_that_run(
        [DRAFT_MODEL, BATCHED], draft_tp=(n, 8)
    )
    assert "magicdec" in beyond["engines_that_run_it"]
    assert "sglang" not in beyond["engines_that_run_it"]
    assert any(x.startswith(f"sglang cannot run a draft on {n} of the target") for x in r["notes"])
    # vLLM places a draft on 1 GPU beside any target.
    on_vllm = plan("h100-sxm", 8, "qwen2.5-32b", 16, 8000, engine="vllm", **kw)
    assert on_vllm["best"]["draft_num_gpus"] == 1


def test_beyond_the_engine_keeps_the_users_own_restrictions() -> None:
    # A draft on 1 GPU asked for: what vLLM cannot run is priced with the draft on 1 GPU.
    r = plan("h200-sxm", *WORKLOAD, engine="vllm", drafts=["llama-3.2-1b"], draft_num_gpus=[1])
    assert r["beyond_engine"]["strategy"]["draft_num_gpus"] == 1
    assert r["beyond_engine"]["engine_lacks"] == [COMPRESSED]


def test_a_draft_tensor_parallel_degree_the_engine_does_not_run_is_said() -> None:
    # vLLM runs a separate draft on 1 GPU or on the target's 8: a draft on 2 asked for is
    # planned on those, and the plan says so (it used to replace it silently).
    r = plan("h100-sxm", 8, "llama-3.1-70b", 16, 8000, engine="vllm", draft_num_gpus=[2])
    assert r["best"]["draft_num_gpus"] in (1, 8)
    assert "vllm runs a separate draft on 1 or 8 GPUs, not on 2: planned on 1 or 8" in r["notes"]
    free = plan("h100-sxm", 8, "llama-3.1-70b", 16, 8000, engine="vllm")
    assert not any("runs a separate draft" in n for n in free["notes"])


def test_a_faster_strategy_the_engine_runs_is_not_beyond_it() -> None:
    # By hand: a full-KV separate draft on the target's 8 GPUs, faster than the engine's best
    # (ruled out by the user, not by vLLM), is not reported as beyond vLLM.
    top = {"draft_model": "llama-3.2-1b", "kv_method": "full", "kv_budget": 0, "gamma": 3,
           "draft_num_gpus": 8, "speedup": 1.8, "t_spec_per_token_ms": 9.0,
           "throughput_tokens_per_s": 100.0}  # fmt: skip
    best = top | {"draft_num_gpus": 1, "speedup": 1.5, "t_spec_per_token_ms": 10.0}
    vllm = load_engine("vllm")
    assert beyond_report(vllm, best, {"best": top}, 8) is None
    over_1 = beyond_report(load_engine("sglang"), None, {"best": best}, 8)
    assert over_1 is not None and over_1["engine_lacks"] == ["a draft on 1 of the target's 8 GPUs"]
    assert over_1["speedup_given_up"] == pytest.approx(0.5)  # against plain AR


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_export_agrees_with_the_plan_on_that_engine(engine: str, h200: Any, llama70b: Any) -> None:
    own = plan(h200, 8, llama70b, 32, 64000, engine=engine)
    # Exported from a plan on MagicDec's engine: the strategy the engine's own plan picks.
    anywhere = plan(h200, 8, llama70b, 32, 64000, engine="magicdec")
    chosen = export(engine, anywhere, h200, 8, llama70b)["exported_strategy"]
    assert {k: chosen[k] for k in KEYS} == {k: own["best"][k] for k in KEYS}
    spec = load_engine(engine)
    assert spec.runs("draft_model") and chosen["kv_method"] == "full"
    assert chosen["draft_num_gpus"] in (draft_tp_degrees(spec, 8) or ())
    # Exported from the engine's own plan, nothing is dropped.
    assert export(engine, own, h200, 8, llama70b)["dropped"] is None


@pytest.mark.parametrize("engine", ["vllm", "sglang", "magicdec"])
def test_one_unbounded_evaluation_gives_the_bounded_plan_unchanged(engine: str) -> None:
    # The plan evaluates every strategy once and ranks the engine's own: its report is the
    # one an evaluation of the engine's strategies alone gives, and what it leaves out is the
    # unbounded plan's fastest that a shipped engine runs (else its best).
    args = ("h100-sxm", 8, "llama-3.1-8b", 64, 32000)
    kw: dict[str, Any] = {"engine": engine}
    if engine != "magicdec":  # their EAGLE-3 chain is the fastest of all: nothing beyond it
        kw["drafts"] = SMALL
    both = plan(*args, **kw)
    bounded = plan(*args, beyond=False, **kw)
    unbounded = plan(*args, any_strategy=True, beyond=False, top=500, **kw)
    skip = ("beyond_engine", "notes")
    assert {k: v for k, v in both.items() if k not in skip} == {
        k: v for k, v in bounded.items() if k not in skip
    }
    shipped = [c for c in unbounded["candidates"] if c["draft_model"] != "none"
               and engines_that_run(needs_of(c, 64), (c["draft_num_gpus"], 8))]  # fmt: skip
    assert both["beyond_engine"]["strategy"]["speedup"] == pytest.approx(
        (shipped[0] if shipped else unbounded["best"])["speedup"]
    )


def test_an_acceptance_table_the_engine_cannot_use_is_still_named(tmp_path: Any) -> None:
    # A measured table of compressed self-drafts (issue 12's `acceptance measure` output) on
    # vLLM, which runs neither: the plan says what the table's fastest strategy would give,
    # names the table as its α's source and the engines that run it.
    table = tmp_path / "measured.csv"
    table.write_text(
        "target,draft,method,budget,context,alpha\n"
        + "".join(f"llama-3.1-8b,self,snapkv,{b},32000,{a}\n" for b, a in ((256, 0.8), (512, 0.85)))
    )
    r = plan("h100-sxm", 8, "llama-3.1-8b", 64, 32000, engine="vllm", acceptance_table=table)
    out = r["acceptance_table_beyond_engine"]
    s = out["strategy"]
    assert (s["draft_model"], s["kv_method"]) == ("self", "snapkv")
    assert s["acceptance_source"].startswith(str(table)) and s["acceptance"] in (0.8, 0.85)
    assert out["engines_that_run_it"] == ["magicdec"]
    assert any(n.startswith("the acceptance table's fastest strategy") and str(table) in n
               for n in r["notes"])  # fmt: skip
    # Without a table of the user's, or on an engine that runs the table's strategies: none.
    assert plan("h100-sxm", 8, "llama-3.1-8b", 64, 32000)["acceptance_table_beyond_engine"] is None
    own = plan("h100-sxm", 8, "llama-3.1-8b", 64, 32000, engine="magicdec", acceptance_table=table)
    assert own["acceptance_table_beyond_engine"] is None
    assert own["best"]["acceptance_source"].startswith(str(table))


def test_an_engine_without_tree_verification_drafts_a_tree_family_as_a_chain() -> None:
    vllm, sglang = load_engine("vllm"), load_engine("sglang")
    eagle3 = as_draft("eagle3")
    assert eagle3.is_tree and not vllm.speculative.tree_verify and sglang.speculative.tree_verify
    drafts, _, _, beyond = restrict(vllm, [eagle3], ("full",), None, 1)
    (chain,) = drafts
    assert chain.drafted_as_chain and not chain.is_tree and chain.kind == "eagle3"
    assert beyond == (TREE,)
    assert restrict(sglang, [eagle3], ("full",), None, 1)[0] == [eagle3]
    # A tree's plan entry needs tree verification; the same family as a chain does not.
    tree = {"draft_model": "eagle3", "kv_method": "full", "gamma": 7, "tree_tokens": 60}
    assert needs_of(tree) == [FAMILIES["eagle3"], TREE]
    assert needs_of(tree | {"tree_tokens": 8}) == [FAMILIES["eagle3"]]
    assert lacks(vllm, needs_of(tree)) == [TREE] and lacks(sglang, needs_of(tree)) == []
    assert engines_that_run(needs_of(tree)) == ["hf-transformers", "sglang", "trtllm"]


def test_a_chain_is_planned_with_a_chains_tau_never_a_trees() -> None:
    # vLLM's EAGLE-3 chain on Llama-3.1-8B: τ 3.53 at γ = 7 (vLLM issue #26191); the tree's
    # 6.13 (EAGLE-3 paper, 60 tokens) would overstate it by 74 %. EAGLE and Medusa have no
    # published chain τ: not planned there.
    hit = lookup_tau(shipped_tau(), "llama-3.1-8b", "eagle3", None, 7, chain=True)
    assert hit is not None and (hit.tau, hit.entry.gamma, hit.entry.tree_tokens) == (3.53, 7, None)
    assert lookup_tau(shipped_tau(), "llama-3.1-8b", "eagle3", 60, 7).tau == 6.13
    assert lookup_tau(shipped_tau(), "llama-3.1-8b", "eagle", None, 6, chain=True) is None
    r = plan("h100-sxm", 1, "llama-3.1-8b", 4, 8192, engine="vllm", top=100)
    fams = [c for c in r["candidates"] if c["draft_model"] in FAMILIES]
    assert {c["draft_model"] for c in fams} >= {"eagle3"}
    assert not {c["draft_model"] for c in fams} & {"eagle", "medusa"}
    for c in fams:
        assert c["tree_tokens"] == c["gamma"] + 1, c  # chains, verified γ + 1 tokens
    at7 = [c for c in fams if c["draft_model"] == "eagle3" and c["gamma"] == 7]
    assert at7 and at7[0]["accepted_per_step"] == pytest.approx(3.53)
    assert "vLLM issue #26191" in at7[0]["acceptance_source"]
    notes = " | ".join(r["notes"])
    assert "vllm verifies no token trees: eagle, eagle3, medusa draft a chain" in notes
    assert "no published chain τ for eagle (its published τ are a tree's)" in notes
    # SGLang verifies the tree: EAGLE-3 planned as its 60-token tree with the paper's τ, and as
    # a chain (speculative_eagle_topk 1) with the chain's; EAGLE has no chain τ: its tree only.
    on_sglang = plan("h100-sxm", 1, "llama-3.1-8b", 4, 8192, engine="sglang", top=200)
    eagle3 = [c for c in on_sglang["candidates"] if c["draft_model"] == "eagle3"]
    trees = [c for c in eagle3 if c["tree_tokens"] > c["gamma"] + 1]
    assert trees and all(c["tree_tokens"] == 60 and c["gamma"] == 7 for c in trees)
    assert trees[0]["accepted_per_step"] == pytest.approx(6.13)
    at7 = [c for c in eagle3 if c["tree_tokens"] == c["gamma"] + 1 and c["gamma"] == 7]
    assert at7 and at7[0]["accepted_per_step"] == pytest.approx(3.53)
    assert all(c["tree_tokens"] > c["gamma"] + 1 for c in on_sglang["candidates"]
               if c["draft_model"] == "eagle")  # fmt: skip
    assert "sglang also drafts eagle3 as a chain" in " | ".join(on_sglang["notes"])


def test_a_users_tree_inputs_on_an_engine_without_trees_are_said() -> None:
    r = plan("h100-sxm", 1, "llama-3.1-8b", 4, 8192, engine="vllm", drafts=["eagle"],
             accepted_per_step=3.0, tree_tokens=16)  # fmt: skip
    (note,) = [n for n in r["notes"] if "verifies no token trees" in n]
    assert "with the given --accepted-per-step as the chain's τ" in note
    assert note.endswith("--tree-tokens 16 does not apply to a chain")
    assert r["best"]["tree_tokens"] == r["best"]["gamma"] + 1


def test_the_chains_evaluated_beside_the_unbounded_plan_leave_the_bounded_report_unchanged() -> (
    None
):
    # On vLLM the tree families' chains are evaluated over vLLM's methods beside the unbounded
    # evaluation (whose blocks span every method): the report equals the bounded plan's.
    args = ("h100-sxm", 8, "llama-3.1-8b", 64, 32000)
    both = plan(*args, engine="vllm", top=20)
    bounded = plan(*args, engine="vllm", top=20, beyond=False)
    skip = ("beyond_engine", "notes")
    assert {k: v for k, v in both.items() if k not in skip} == {
        k: v for k, v in bounded.items() if k not in skip
    }
    assert both["best"]["draft_model"] == "eagle3" and both["best"]["tree_tokens"] == (
        both["best"]["gamma"] + 1
    )


def test_beyond_the_engine_names_first_what_a_shipped_engine_runs() -> None:
    # Qwen2.5-7B on an RTX 4090 under llama.cpp: the fastest strategy of all (EAGLE-3 over a
    # compressed cache) runs on no shipped engine; the plan names the fastest one that does
    # (EAGLE-3's tree with a full cache: SGLang, TensorRT-LLM, Transformers).
    args = ("rtx-4090", 1, "qwen2.5-7b", 1, 4000)
    r = plan(*args, engine="llama.cpp")
    beyond = r["beyond_engine"]
    assert beyond["strategy"]["draft_model"] == "eagle3"
    assert beyond["strategy"]["kv_method"] == "full"
    assert beyond["engines_that_run_it"] == ["hf-transformers", "sglang", "trtllm"]
    free = plan(*args, engine="llama.cpp", any_strategy=True)["best"]
    assert free["kv_method"] != "full" and free["speedup"] > beyond["strategy"]["speedup"]
    assert engines_that_run(needs_of(free), (1, 1)) == []


def test_beyond_the_engine_falls_back_to_what_no_engine_ships() -> None:
    # SGLang already runs EAGLE-3's tree: what is faster still (its draft over a compressed
    # cache) runs on no shipped engine, and the plan says so.
    r = plan("h100-sxm", 1, "llama-3.1-8b", 8, 32000, engine="sglang", drafts=["eagle3"])
    beyond = r["beyond_engine"]
    assert beyond["engines_that_run_it"] == [] and beyond["engine_lacks"] == [COMPRESSED]
    assert beyond["strategy"]["speedup"] > r["best"]["speedup"]
    assert any("engines that run it: no shipped engine" in n for n in r["notes"])


def test_an_engine_that_speculates_one_sequence_at_a_time() -> None:
    # transformers' assisted generation runs batch 1 only: at batch 16 no speculative strategy
    # is planned on it, the plan says what an engine that batches would give, and an estimate
    # there says so; at batch 1 it plans as before.
    hf = load_engine("hf-transformers")
    assert not hf.speculative.batched and load_engine("vllm").speculative.batched
    r = plan("h100-sxm", 1, "llama-3.1-8b", 16, 16000, engine="hf-transformers")
    assert r["best"]["draft_model"] == "none" and not r["candidates"][1:]
    beyond = r["beyond_engine"]
    assert beyond["engine_lacks"] == ["speculation at a batch above 1"]
    assert "hf-transformers" not in beyond["engines_that_run_it"] and beyond["engines_that_run_it"]
    one = plan("h100-sxm", 1, "llama-3.1-8b", 1, 16000, engine="hf-transformers")
    assert one["best"]["draft_model"] != "none"


def test_an_engine_on_hardware_it_does_not_run_on_is_warned() -> None:
    # TensorRT-LLM runs on NVIDIA GPUs only: a plan (and an estimate) on an MI300X says so.
    from magicplan.estimate import estimate

    r = plan("mi300x", 1, "llama-3.1-8b", 4, 4000, engine="trtllm")
    assert any(n.startswith("warning: trtllm runs on nvidia hardware, not amd") for n in r["notes"])
    e = estimate("mi300x", 1, "llama-3.1-8b", 4, 4000, engine="trtllm", acceptance=0.8,
                 draft="llama-3.2-1b", kv_method="full")  # fmt: skip
    assert any("trtllm runs on nvidia hardware" in n for n in e["notes"])
    assert not any("runs on" in n for n in plan("h100-sxm", 1, "llama-3.1-8b", 4, 4000,
                                                engine="trtllm")["notes"])  # fmt: skip


def test_the_engines_named_run_on_the_plans_hardware() -> None:
    # On an MI300X, TensorRT-LLM (NVIDIA only) is not among the engines said to run a strategy.
    r = plan("mi300x", 1, "llama-3.1-8b", 1, 4000, engine="vllm")
    assert r["beyond_engine"] is not None
    assert "trtllm" not in r["beyond_engine"]["engines_that_run_it"]
    assert "trtllm" in engines_that_run(r["beyond_engine"]["needs"], None)  # on NVIDIA it does


def test_no_speculation_says_the_engines_reason() -> None:
    # Transformers at batch 8, LMDeploy without a draft model: the reason is the engine's, not
    # "no acceptance" (nor memory).
    from magicplan.planner.analysis import break_even

    r = plan("a100-80gb-sxm", 1, "llama-3.1-8b", 8, 4000, engine="hf-transformers")
    why = "hf-transformers cannot run speculation at a batch above 1"
    assert why in r["recommendation"] and r["feasibility"]["no_speculation_because"] == why
    b = break_even("a100-80gb-sxm", 1, "llama-3.1-8b", 1, 4000, engine="lmdeploy")
    assert "lmdeploy cannot run self-speculation" in b["note"]


def test_verifies_tree_is_one_rule() -> None:
    # A tree verifies more than γ + 1 tokens per sequence; a chain (of any family) exactly γ + 1.
    from magicplan.planner.records import verifies_tree

    assert verifies_tree({"gamma": 7, "tree_tokens": 60})
    assert not verifies_tree({"gamma": 7, "tree_tokens": 8})
    assert not verifies_tree({"gamma": 3})  # a separate draft: no tree_tokens
