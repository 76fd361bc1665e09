"""Drafting-family specs: every shipped kind loads, cites its numbers and matches the released
checkpoints' configs; keywords resolve wherever a draft is named."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from magicplan.errors import MagicplanError
from magicplan.specs import as_draft, load_model
from magicplan.specs.drafts import FAMILY_KINDS, DraftKindSpec, draft_kind, draft_kinds
from magicplan.specs.hf_config import model_from_hf_config


def test_every_kind_ships_and_cites_its_numbers() -> None:
    assert set(draft_kinds()) == set(FAMILY_KINDS) == {"eagle", "eagle3", "medusa", "mtp", "ngram"}
    for spec in draft_kinds().values():
        cited = {f for s in spec.sources for f in s.fields}
        assert {"depth"} <= cited, spec.kind


def test_kinds_match_the_released_checkpoints() -> None:
    # yuhuili/EAGLE-LLaMA3-Instruct-8B: 1 layer, FC 2h -> h, the target's LM head; EAGLE-2's
    # tree: 60 tokens, depth 6, 10 per step. EAGLE3-LLaMA3.1-Instruct-8B: FC 3h -> h, its own
    # head of draft_vocab_size 32000. medusa-vicuna-7b-v1.3: 5 heads of 1 ResBlock, 64 nodes.
    eagle, eagle3, medusa = draft_kind("eagle"), draft_kind("eagle3"), draft_kind("medusa")
    assert (eagle.layers, eagle.fusion_inputs, eagle.lm_head) == (1, 2, "target")
    assert (eagle.tree_tokens, eagle.depth, eagle.branch) == (60, 6, 10)
    assert (eagle3.fusion_inputs, eagle3.lm_head, eagle3.draft_vocab_size) == (3, "own", 32000)
    assert (medusa.heads, medusa.head_layers, medusa.tree_tokens, medusa.kv_cache) == (
        5, 1, 64, False,
    )  # fmt: skip
    assert draft_kind("ngram").depth == 10 and not draft_kind("ngram").is_tree
    assert draft_kind("mtp").depth == 1 and draft_kind("mtp").kv_cache


def test_shape_rules() -> None:
    spec = draft_kind("eagle")
    assert spec.verified_tokens(6) == 60 and spec.verified_tokens(6, 26) == 26
    assert draft_kind("ngram").verified_tokens(10) == 11  # a chain verifies γ + 1
    assert draft_kind("medusa").passes(5) == 1 and spec.passes(6) == 6
    bad = spec.model_dump() | {"tree_tokens": 5}
    with pytest.raises(ValidationError, match="tree_tokens >= depth"):
        DraftKindSpec(**bad)
    uncited = spec.model_dump() | {"sources": [{"fields": ["depth"], "citation": "x" * 5}]}
    with pytest.raises(ValidationError, match="no entry in sources"):
        DraftKindSpec(**uncited)


def test_keywords_resolve_as_drafts() -> None:
    assert as_draft("self") is None and as_draft(None) is None
    assert as_draft("eagle3") is draft_kind("eagle3")
    assert as_draft("llama-3.2-1b").id == "llama-3.2-1b"  # type: ignore[union-attr]
    with pytest.raises(MagicplanError, match="one of eagle, eagle3, medusa, mtp, ngram"):
        draft_kind("hydra")


def test_mtp_module_count_is_read_from_config_json() -> None:
    base = {
        "model_type": "mimo", "architectures": ["MiMoForCausalLM"],
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 100,
        "max_position_embeddings": 512,
    }  # fmt: skip
    mimo = model_from_hf_config(base | {"num_nextn_predict_layers": 1}, "c.json")
    assert mimo.mtp_layers == 1 and mimo.qkv_bias  # a Qwen2 decoder with one MTP module
    qwen_next = base | {"model_type": "llama", "mtp_num_hidden_layers": 1}
    assert model_from_hf_config(qwen_next, "c.json").mtp_layers == 1
    assert model_from_hf_config(json.loads(json.dumps(base)), "c.json").mtp_layers == 0
    assert load_model("mimo-7b").mtp_layers == 1 and load_model("llama-3.1-8b").mtp_layers == 0


@pytest.mark.parametrize(
    ("model_id", "params"),
    [  # LLaMA-1 sizes (Touvron et al. 2023, arXiv 2302.13971 table 2): 6.7B, 13.0B, 32.5B
        ("vicuna-7b", 6_738_415_616),
        ("vicuna-13b", 13_015_864_320),
        ("vicuna-33b", 32_528_943_616),
    ],
)
def test_vicuna_profiles_have_llama_sizes(model_id: str, params: int) -> None:
    assert load_model(model_id).num_parameters == params


def test_chat_repos_resolve_to_their_base_shapes() -> None:
    assert load_model("meta-llama/Llama-2-13b-chat-hf").id == "llama-2-13b"
