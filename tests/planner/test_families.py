"""The planner over drafting families: kinds × KV method and budget × γ (a tree: its depth and
N), the kind shown, the best of each family compared, the engine's features respected, and
each kind exported as the engine can express it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from magicplan.cost.speculative import expected_tokens, implied_alpha
from magicplan.errors import MagicplanError
from magicplan.estimate import estimate
from magicplan.planner import plan
from magicplan.planner.analysis import best_speculative
from magicplan.planner.export import export
from magicplan.planner.inputs import default_drafts
from magicplan.planner.records import Strategy
from magicplan.specs import load_model


def test_a_tree_family_is_planned_from_its_tau(h100: Any, llama8b: Any) -> None:
    r = plan(h100, 1, llama8b, 4, 8192, drafts=["eagle"], accepted_per_step=4.2, engine="sglang")
    best = r["best"]
    assert (best["draft_kind"], best["gamma"], best["tree_tokens"]) == ("eagle", 6, 60)
    assert best["accepted_per_step"] == 4.2 and best["acceptance"] is None
    assert best["acceptance_input"] == "tau" and best["kv_method"] == "full"
    # the same round as estimate's: 6 draft passes, one verify of 60 tokens, τ tokens
    e = estimate(h100, 1, llama8b, 4, 8192, draft="eagle", accepted_per_step=4.2, engine="sglang")
    assert best["speedup"] == pytest.approx(e["speedup"], rel=1e-6)
    assert best["why"]["round_fractions"]["draft"] > 0


def test_tree_tokens_sets_the_verified_tokens(h100: Any, llama8b: Any) -> None:
    kw = {"drafts": ["eagle"], "accepted_per_step": 4.0, "engine": "sglang"}
    small = best_speculative(plan(h100, 1, llama8b, 16, 4096, tree_tokens=16, **kw))
    big = best_speculative(plan(h100, 1, llama8b, 16, 4096, **kw))
    assert small is not None and big is not None
    assert small["tree_tokens"] == 16 and big["tree_tokens"] == 60
    assert small["t_verify_ms"] < big["t_verify_ms"]  # 16 x 16 tokens verify, not 16 x 60


def test_a_chains_tau_carries_to_other_gamma_through_its_alpha(h100: Any, llama8b: Any) -> None:
    # n-gram lookup: the table's τ 1.68 was measured at γ = 10 (borrowed from Vicuna-7B)
    r = plan(h100, 1, llama8b, 1, 4096, drafts=["ngram"], engine="vllm", gammas=[3])
    best = r["best"]
    alpha = implied_alpha(1.68, 10)
    assert best["accepted_per_step"] == pytest.approx(float(expected_tokens(3, alpha)))
    assert best["tree_tokens"] == 4 and best["kv_method"] == "none" and best["draft_passes"] == 1
    assert best["acceptance_borrowed_from"] == "vicuna-7b/ngram"
    assert "borrowed" in r["recommendation"]


def test_default_search_spans_every_family_and_why_compares_them(h100: Any) -> None:
    target = load_model("mimo-7b")  # ships an MTP module
    kinds = {getattr(d, "kind", None) for d in default_drafts(target)}
    assert {"eagle", "eagle3", "medusa", "mtp", "ngram"} <= kinds
    r = plan(h100, 1, target, 1, 4096, engine="trtllm")  # runs every family, trees verified
    fams = {f["draft_kind"] for f in r["families"]}
    assert {"eagle", "eagle3", "medusa", "mtp", "ngram"} <= fams
    assert set(r["best"]["why"]["best_of_each_family"]) == fams
    speed = [f["t_spec_per_token_ms"] for f in r["families"]]
    assert speed == sorted(speed)
    llama = default_drafts(load_model("llama-3.1-8b"))
    assert "mtp" not in {getattr(d, "kind", None) for d in llama}


def test_an_mtp_draft_on_a_model_without_one_is_refused(h100: Any, llama8b: Any) -> None:
    with pytest.raises(MagicplanError, match="no multi-token-prediction module"):
        plan(h100, 1, llama8b, 1, 4096, drafts=["mtp"])


def test_the_engine_gates_the_kinds(h100: Any, llama8b: Any) -> None:
    # SGLang runs EAGLE, EAGLE-3, MTP and n-gram lookup, not Medusa (sglang.yaml).
    r = plan(h100, 1, llama8b, 1, 4096, drafts=["medusa", "ngram"], engine="sglang")
    assert {f["draft_kind"] for f in r["families"]} == {"ngram"}
    assert r["beyond_engine"] is not None
    assert r["beyond_engine"]["engine_lacks"] == ["Medusa heads (medusa)"]
    # Medusa's tree: TensorRT-LLM and Transformers verify it; vLLM runs Medusa as a chain only.
    assert r["beyond_engine"]["engines_that_run_it"] == ["hf-transformers", "trtllm"]


def test_an_alpha_keeps_trees_out_of_the_default_search(h100: Any, llama8b: Any) -> None:
    r = plan(h100, 1, llama8b, 1, 4096, acceptance=0.7, engine="magicdec")
    assert {f["draft_kind"] for f in r["families"]} <= {"self", "draft_model", "ngram"}


def test_tau_for_a_chain_over_several_gammas_needs_one(h100: Any, llama8b: Any) -> None:
    with pytest.raises(MagicplanError, match="give the one --gamma"):
        plan(h100, 1, llama8b, 1, 4096, drafts=["llama-3.2-1b"], accepted_per_step=2.5)
    r = plan(h100, 1, llama8b, 1, 4096, drafts=["llama-3.2-1b"], accepted_per_step=2.5,
             gammas=[3], engine="vllm")  # fmt: skip
    assert r["best"]["accepted_per_step"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("kind", "fmt", "config"),
    [
        ("eagle3", "vllm", {"method": "eagle3", "num_speculative_tokens": 4, "model": None}),
        ("eagle", "sglang", {"speculative_algorithm": "EAGLE", "speculative_num_steps": 6,
                             "speculative_eagle_topk": 10, "speculative_num_draft_tokens": 60}),
        ("ngram", "vllm", {"method": "ngram", "prompt_lookup_max": 3}),
        ("ngram", "sglang", {"speculative_algorithm": "NGRAM"}),
        ("medusa", "vllm", {"method": "medusa"}),
    ],
)  # fmt: skip
def test_export_maps_each_kind(
    h100: Any, llama8b: Any, kind: str, fmt: str, config: dict[str, Any]
) -> None:
    # one γ for the chains (EAGLE-3 is one on vLLM: its τ 3.0 at γ = 4)
    one = {"ngram": [6], "eagle3": [4] if fmt == "vllm" else None}
    kw = {"drafts": [kind], "accepted_per_step": 3.0, "gammas": one.get(kind)}
    r = plan(h100, 1, llama8b, 1, 4096, engine=fmt, **kw)
    e = export(fmt, r, h100, 1, llama8b, **kw)
    assert e["exported_strategy"]["draft_kind"] == kind
    assert {k: e["speculative_config"][k] for k in config} == config
    if kind in ("eagle", "eagle3", "medusa"):
        assert any("head trained for this target" in lim for lim in e["limitations"])
    if (kind, fmt) == ("eagle3", "vllm"):  # planned on vLLM: a chain, no tree to warn of
        assert e["exported_strategy"]["tree_tokens"] == 5
        assert not any("as a chain" in lim for lim in e["limitations"])


def test_export_says_when_the_engine_cannot_express_the_kind(h100: Any, llama8b: Any) -> None:
    kw = {"drafts": ["medusa", "llama-3.2-1b"], "accepted_per_step": 2.4, "gammas": [4]}
    r = plan(h100, 1, llama8b, 1, 4096, engine="vllm", **kw)  # vLLM runs Medusa
    assert r["best"]["draft_kind"] == "medusa"
    e = export("sglang", r, h100, 1, llama8b, **kw)
    assert e["exported_strategy"]["draft_model"] == "llama-3.2-1b"
    assert e["dropped"] is not None
    assert any("cannot run Medusa heads" in reason for reason in e["dropped"]["reasons"])
    assert np.isfinite(e["dropped"]["speedup_given_up"])


def test_a_chain_family_takes_the_users_alpha(h100: Any, llama8b: Any) -> None:
    # n-gram lookup is a chain: a given α is its acceptance (it used to be ignored for the
    # table's τ). Ω(γ=3, α=0.5) = (1 − 0.5⁴) / (1 − 0.5) = 1.875.
    r = plan(h100, 1, llama8b, 8, 8000, drafts=["ngram"], acceptance=0.5, gammas=[3],
             engine="vllm")  # fmt: skip
    best = r["best"]
    assert best["acceptance_input"] == "alpha" and best["acceptance"] == 0.5
    assert best["accepted_per_step"] == pytest.approx(1.875)
    assert best["acceptance_source"] == "user --acceptance"
    # EAGLE-3 drafted as a chain on vLLM takes α too; on SGLang its tree keeps τ.
    chain = plan(h100, 1, llama8b, 8, 8000, drafts=["eagle3"], acceptance=0.5, gammas=[3],
                 engine="vllm")["best"]  # fmt: skip
    assert chain["accepted_per_step"] == pytest.approx(1.875) and chain["tree_tokens"] == 4
    tree = plan(h100, 1, llama8b, 8, 8000, drafts=["eagle3"], accepted_per_step=5.0,
                engine="sglang")["best"]  # fmt: skip
    assert tree["acceptance_input"] == "tau" and tree["tree_tokens"] == 60


def test_a_tree_family_drafted_as_a_chain_is_labelled_and_exported_as_one(
    h100: Any, llama8b: Any
) -> None:
    kw: dict[str, Any] = {"drafts": ["eagle3"], "accepted_per_step": 3.0, "gammas": [4]}
    r = plan(h100, 1, llama8b, 8, 4096, engine="vllm", **kw)
    best = r["best"]
    assert (best["gamma"], best["tree_tokens"]) == (4, 5)
    assert "EAGLE-3 draft head (γ=4, τ 3.00)" in r["recommendation"]
    assert Strategy.of(best).label() == "EAGLE-3 draft head, full KV, γ=4"
    # Exported to SGLang from that plan: a chain there too (top-k 1, γ + 1 draft tokens).
    e = export("sglang", r, h100, 1, llama8b, engine="vllm", **kw)
    cfg = e["speculative_config"]
    assert (cfg["speculative_num_steps"], cfg["speculative_eagle_topk"]) == (4, 1)
    assert cfg["speculative_num_draft_tokens"] == 5
    on_sglang = plan(h100, 1, llama8b, 8, 4096, engine="sglang", drafts=["eagle3"],
                     accepted_per_step=5.0)  # fmt: skip
    assert Strategy.of(on_sglang["best"]).label() == "EAGLE-3 draft head, full KV, depth 7"


def test_a_chains_tau_above_its_gamma_plus_one_is_refused(h100: Any, llama8b: Any) -> None:
    # A chain at γ = 2 emits at most 3 tokens per round: τ 6 there is not a measurement (it
    # used to be clipped to 3 silently while the note said the given τ was used).
    with pytest.raises(MagicplanError, match=r"at most γ \+ 1 = 3 tokens per round"):
        plan(h100, 1, llama8b, 1, 8000, drafts=["eagle3"], gammas=[2], accepted_per_step=6.0,
             engine="vllm")  # fmt: skip


def test_an_mtp_module_is_not_chained_past_its_modules_by_default(h100: Any) -> None:
    # MiMo-7B ships one MTP module: its τ (DeepSeek-V3's, at γ = 1) is not carried to γ 9-11 by
    # the default search; γ given explicitly still plans deeper.
    mimo = load_model("mimo-7b")
    assert mimo.mtp_layers == 1
    r = plan(h100, 1, mimo, 16, 8000, drafts=["mtp"], engine="vllm", top=50)
    assert {c["gamma"] for c in r["candidates"] if c["draft_model"] == "mtp"} == {1}
    deep = plan(h100, 1, mimo, 16, 8000, drafts=["mtp"], engine="vllm", gammas=[1, 2, 3])
    assert {c["gamma"] for c in deep["candidates"] if c["draft_model"] == "mtp"} == {1, 2, 3}


@pytest.mark.parametrize("engine", ["trtllm", "vllm", "sglang"])
def test_every_strategy_is_a_superset_of_the_engines(engine: str, h100: Any, llama8b: Any) -> None:
    # --any-strategy adds strategies: its best is never slower (it used to drop the chains).
    own = plan(h100, 1, llama8b, 16, 8000, engine=engine)["best"]
    anything = plan(h100, 1, llama8b, 16, 8000, engine=engine, any_strategy=True)["best"]
    assert anything["speedup"] >= own["speedup"] - 1e-9


def test_medusa_drafts_at_most_one_token_per_head(h100: Any) -> None:
    # Five heads propose at most five tokens: γ 12 (and num_speculative_tokens 12) was planned.
    r = plan(h100, 1, load_model("vicuna-7b"), 1, 2000, drafts=["medusa"], acceptance=0.8,
             engine="vllm", top=50)  # fmt: skip
    assert max(c["gamma"] for c in r["candidates"] if c["draft_model"] == "medusa") == 5


def test_gammas_given_are_a_trees_depths(h100: Any, llama8b: Any) -> None:
    # --gammas 2 plans EAGLE-3's tree at depth 2 (its τ capped at 3), as estimate --gamma does.
    r = plan(h100, 1, llama8b, 1, 4000, engine="sglang", drafts=["eagle3"], gammas=[2], top=20)
    trees = [c for c in r["candidates"] if (c.get("tree_tokens") or 0) > c["gamma"] + 1]
    assert trees and {c["gamma"] for c in trees} == {2}
    assert all(c["accepted_per_step"] <= 3.0 for c in trees)
