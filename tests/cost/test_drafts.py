"""Draft passes of the drafting families and tree verification, against hand-derived numbers.

A toy target (1,024 wide, 8 heads of 128, MLP 2,048, vocabulary 1,000, bf16) on a toy GPU of
1 TB/s and 100 TFLOP/s at full efficiency: every operator here is memory-bound, so a step is
its bytes over 1 TB/s (1 byte = 1 ps) plus the latencies named."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.cost.drafts import Drafter, head_model
from magicplan.cost.memory import memory_terms
from magicplan.cost.roofline import make_roofline
from magicplan.cost.steps import forward_time, verify_tokens_time
from magicplan.errors import MagicplanError
from magicplan.specs import as_draft
from magicplan.specs.drafts import draft_kind
from tests.cost.conftest import make_cal, make_hw, make_model

PS = 1e-12  # one byte at 1 TB/s


def toy(layers: int = 4, **kw: object):  # type: ignore[no-untyped-def]
    return make_model(hidden_size=1024, intermediate_size=2048, num_layers=layers,
                      num_attention_heads=8, num_kv_heads=8, vocab_size=1000, **kw)  # fmt: skip


def rf(**kw: object):  # type: ignore[no-untyped-def]
    return make_roofline(make_hw(), make_cal(**kw))


def test_eagle_draft_pass_at_batch_4_over_1000_keys() -> None:
    # One EAGLE layer (the target's shape) over 10 frontier tokens per sequence (EAGLE-2's
    # top-k), batch 4 (t = 40 tokens), 1,000 cached keys; bytes per operator (bf16):
    t, h, i, v, a = 40, 1024, 2048, 1000, 2
    qkv = h * 3 * h * a + t * (h + 3 * h) * a  # weights + activations in and out
    o = h * h * a + t * 2 * h * a
    mlp = 3 * h * i * a + t * (2 * h + 6 * i) * a
    norms = 3 * (h * a + 2 * t * h * a)  # two in the layer, one final
    lm_head = h * v * a + t * (h + v) * a  # the target's LM head, 1,000 rows
    embedding = 2 * t * h * a
    attention = (1000 + 10) * 4 * 2 * 8 * 128 * a + 2 * 8 * 128 * a * t  # K and V, Q and out
    fusion = 2 * h * h * a + t * (2 * h + h) * a  # FC of 2h -> h over [embedding, feature]
    by_hand = qkv + o + mlp + norms + lm_head + embedding + attention + fusion
    assert by_hand == 46_633_088
    pass_s = Drafter(toy(), as_draft("eagle")).pass_time(rf(), 1, 4.0, 1000.0)
    assert float(pass_s.total_s) == pytest.approx(by_hand * PS, rel=1e-12)


def test_eagle_drafted_as_a_chain_passes_one_token_per_sequence() -> None:
    # An engine without tree verification (vLLM) drafts EAGLE as a chain: each pass proposes
    # the top token alone, so the same pass as above carries t = 4 tokens and one new key.
    t, h, i, v, a = 4, 1024, 2048, 1000, 2
    qkv = h * 3 * h * a + t * (h + 3 * h) * a
    o = h * h * a + t * 2 * h * a
    mlp = 3 * h * i * a + t * (2 * h + 6 * i) * a
    norms = 3 * (h * a + 2 * t * h * a)
    lm_head = h * v * a + t * (h + v) * a
    embedding = 2 * t * h * a
    attention = (1000 + 1) * 4 * 2 * 8 * 128 * a + 2 * 8 * 128 * a * t
    fusion = 2 * h * h * a + t * (2 * h + h) * a
    by_hand = qkv + o + mlp + norms + lm_head + embedding + attention + fusion
    assert by_hand == 43_906_880
    chain = as_draft("eagle").as_chain()
    assert (chain.is_tree, chain.drafted_as_chain, chain.branch) == (False, True, 1)
    drafter = Drafter(toy(), chain)
    assert float(drafter.verified(6)) == 7.0  # γ + 1, not the tree's 60
    assert float(drafter.pass_time(rf(), 1, 4.0, 1000.0).total_s) == pytest.approx(
        by_hand * PS, rel=1e-12
    )


def test_a_draft_pass_pays_its_layers_latency_not_the_step_overhead() -> None:
    # Inside a round: 1 layer x 10 µs, not the engine's 100 µs per step (the verify pays it).
    bare = Drafter(toy(), as_draft("eagle")).pass_time(rf(), 1, 4.0, 1000.0)
    late = Drafter(toy(), as_draft("eagle")).pass_time(
        rf(step_overhead_us=100.0, layer_overhead_us=10.0), 1, 4.0, 1000.0
    )
    assert float(late.total_s - bare.total_s) == pytest.approx(10e-6, rel=1e-9)


def test_eagle3_reads_three_features_and_its_own_small_head() -> None:
    # EAGLE-3: FC 3h -> h, Q/K/V read 2h (one more h x 3h block), LM head of 32,000 rows.
    m = head_model(toy(), draft_kind("eagle3"))
    assert m is not None and m.num_layers == 1 and m.vocab_size == 32000
    t, h, a = 1, 1024, 2
    e3 = Drafter(toy(), as_draft("eagle3")).pass_time(rf(), 1, 0.1, 0.0)  # 1 token in all
    e1 = Drafter(toy(), as_draft("eagle")).pass_time(rf(), 1, 0.1, 0.0)
    extra = (3 - 2) * h * h * a + t * h * a  # a wider FC (weights, one more input row)
    extra += h * 3 * h * a + t * (h + 3 * h) * a  # the embedding's Q/K/V columns
    extra += h * (32000 - 1000) * a + t * (32000 - 1000) * a  # the larger LM head
    assert float(e3.total_s - e1.total_s) == pytest.approx(extra * PS, rel=1e-9)


def test_medusa_heads_in_one_pass_without_a_cache() -> None:
    # 5 heads on one hidden state per sequence, batch 2: a ResBlock (h x h + bias) and an LM
    # head (h x V) each; the cache's length plays no part.
    t, h, v, a = 2, 1024, 1000, 2
    res = 5 * (h * h * a + h * a + t * 2 * h * a)
    heads = 5 * (h * v * a + t * (h + v) * a)
    d = Drafter(toy(), as_draft("medusa"))
    for keys in (0.0, 1e6):
        assert float(d.pass_time(rf(), 1, 2.0, keys).total_s) == pytest.approx(
            (res + heads) * PS, rel=1e-9
        )
    assert d.passes(5) == 1 and not d.kv_cache


def test_ngram_costs_its_lookup_time_only() -> None:
    d = Drafter(toy(), as_draft("ngram"))
    st = d.pass_time(rf(ngram_lookup_us=300.0), 1, np.array([1.0, 64.0]), 1e5)
    np.testing.assert_allclose(st.total_s, [300e-6, 300e-6])
    assert st.parts["overhead"][0] == pytest.approx(300e-6) and d.passes(10) == 1


def test_tree_verify_of_n_tokens() -> None:
    # One layer, batch 1, N = 8 tokens verified under a tree mask over 100 cached keys: the
    # bytes of 8 tokens (weights once), plus 1 µs per layer for each of the 7 beyond the first.
    t, h, i, v, a = 8, 1024, 2048, 1000, 2
    weights = (3 * h * h + h * h + 3 * h * i + 3 * h + h * v) * a  # qkv, o, mlp, norms, head
    acts = (t * 4 * h + t * 2 * h + t * (2 * h + 6 * i) + 3 * 2 * t * h + t * (h + v)) * a
    embedding = 2 * t * h * a
    attention = (100 + 8) * 1 * 2 * 8 * 128 * a + 2 * 8 * 128 * a * t
    by_hand = (weights + acts + embedding + attention) * PS + 7 * 1e-6
    m = toy(layers=1)
    st = verify_tokens_time(m, rf(verify_token_layer_overhead_ns=1000.0), 1, 1.0, 100.0, 8.0)
    assert float(st.total_s) == pytest.approx(by_hand, rel=1e-12)
    # the FLOPs of 8 tokens: attention over 100 + (8 + 1) / 2 keys per query, 8 queries
    assert float(forward_time(m, rf(), 1, 1.0, 8.0, 100.0).total_s) == pytest.approx(
        by_hand - 7e-6, rel=1e-12
    )


def test_family_memory_adds_its_weights_and_cache() -> None:
    # EAGLE on the toy (one GPU): one layer (4h^2 attention + 3hI MLP) and the FC (2h^2) in
    # bf16; its cache holds one layer's K and V (2 x 8 x 128 x 2 B) per token.
    target = toy()
    fixed, per_seq = memory_terms(target, 1, 1000.0, 6.0, as_draft("eagle"), verified=60.0)
    h, i = 1024, 2048
    assert fixed["draft_weights"] == (4 * h * h + 3 * h * i + 2 * h * h) * 2 == 25_165_824
    drafted = 1000 + 6 * 10  # the context and six passes of 10 frontier tokens
    assert float(per_seq["draft_kv"]) == drafted * 4096
    # the verify's 60 tokens sit in the target's cache and activations
    _, ar = memory_terms(target, 1, 1000.0, speculative=False)
    assert float(per_seq["kv"]) > float(ar["kv"])
    # EAGLE-3: Q/K/V read one more h (an h x 3h block), FC 3h -> h, its own 32,000-row head
    e3, _ = memory_terms(target, 1, 1000.0, 7.0, as_draft("eagle3"), verified=60.0)
    assert e3["draft_weights"] == (4 * h * h + 3 * h * i + 3 * h * h + 3 * h * h) * 2 + (
        h * 32000 * 2
    )
    med, per_med = memory_terms(target, 1, 1000.0, 5.0, as_draft("medusa"))
    assert med["draft_weights"] == 5 * ((h * h + h) * 2 + h * 1000 * 2)
    assert float(per_med["draft_kv"]) == 0.0


def test_mtp_needs_the_targets_module() -> None:
    with pytest.raises(MagicplanError, match="num_nextn_predict_layers"):
        Drafter(toy(), as_draft("mtp")).model  # noqa: B018
    m = head_model(toy(mtp_layers=1), draft_kind("mtp"))
    assert m is not None and m.num_layers == 1 and m.vocab_size == 1000
