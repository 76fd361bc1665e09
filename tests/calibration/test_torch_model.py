"""The torch runner's decoder: cache, attention, packed GEMMs and KV compression on tiny shapes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from magicplan.calibration.torch_runner import compress  # noqa: E402
from magicplan.calibration.torch_runner.linear import Linear, linear, mkl_packing  # noqa: E402
from magicplan.calibration.torch_runner.model import (  # noqa: E402
    KVCache,
    attention,
    forward,
    init_weights,
    new_cache,
)
from magicplan.specs.model import ModelSpec  # noqa: E402


def tiny_spec(**kw: object) -> ModelSpec:
    base: dict[str, object] = dict(
        id="tiny", name="tiny", architecture="llama", hidden_size=64, intermediate_size=96,
        num_layers=2, num_attention_heads=4, num_kv_heads=2, vocab_size=101,
        max_position_embeddings=4096, dtype="float32", source="test shapes",
    )  # fmt: skip
    base.update(kw)
    return ModelSpec(**base)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_grad() -> object:
    torch.manual_seed(0)
    with torch.inference_mode():
        yield


def test_incremental_decoding_matches_one_pass() -> None:
    # Logits of a sequence fed at once equal those of feeding it in pieces through the cache:
    # the cache, RoPE positions and the causal mask of multi-token steps agree.
    w = init_weights(tiny_spec(), seed=3)
    tokens = torch.randint(0, 101, (2, 24))
    full, _ = forward(w, new_cache(w.spec, 2, 32), tokens, 0)
    cache = new_cache(w.spec, 2, 32)
    parts = [forward(w, cache, tokens[:, a:b], a)[0] for a, b in ((0, 10), (10, 11), (11, 24))]
    assert cache.length == 24
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-4, atol=1e-4)


def test_gqa_attention_matches_repeated_heads() -> None:
    b, heads, kvh, n, past, d = 2, 6, 2, 3, 5, 8
    q = torch.randn(b, heads, n, d)
    k, v = torch.randn(b, kvh, past + n, d), torch.randn(b, kvh, past + n, d)
    group = heads // kvh
    kr, vr = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    allowed = torch.ones(n, past + n, dtype=torch.bool).tril(past)
    ref = torch.softmax((q @ kr.transpose(-1, -2)) * d**-0.5 + (~allowed) * -1e9, dim=-1) @ vr
    out = attention(q, k, v, group, past)
    torch.testing.assert_close(out, ref.transpose(1, 2).reshape(b, n, heads * d))


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8, 13])
def test_packed_linear_matches_plain(rows: int) -> None:
    w = torch.randn(48, 32)
    x = torch.randn(rows, 32)
    lin = Linear(w, mkl_packing("cpu"))
    torch.testing.assert_close(linear(x, lin), x @ w.T, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(linear(x[None], lin)[0], x @ w.T, rtol=1e-5, atol=1e-5)


def _position_cache(n: int, kv_heads: int = 2) -> KVCache:
    """A one-layer cache whose keys and values hold their position in every element."""
    pos = torch.arange(n, dtype=torch.float32)[None, None, :, None]
    k = pos.expand(1, kv_heads, n, 8).clone()
    return KVCache([k], [k.clone()], n)


def test_streamingllm_keeps_sinks_and_recent() -> None:
    out = compress.streamingllm(_position_cache(100), budget=48, extra=5)
    kept = out.k[0][0, 0, : out.length, 0].tolist()
    assert kept == list(range(16)) + list(range(68, 100))  # 16 sinks + the latest 48 - 16
    assert out.capacity == 48 + 5


def test_compression_within_budget_copies_everything() -> None:
    for method in ("streamingllm", "snapkv", "full"):
        out = compress.compress(method, _position_cache(30), 48, 4, [torch.randn(1, 4, 32, 8)])
        assert out.length == 30 and out.k[0][0, 0, :30, 0].tolist() == list(range(30))


def test_snapkv_keeps_voted_positions_per_head_and_the_window() -> None:
    n, budget, d = 120, 40, 8
    keys = torch.randn(1, 2, n, d) * 0.1
    # Head 0's window queries look for the key at position 7, head 1's for the one at 50.
    keys[0, 0, 7], keys[0, 1, 50] = 10.0, -10.0
    queries = torch.zeros(1, 4, 32, d)  # 4 query heads: heads 0-1 read KV head 0, 2-3 head 1
    queries[0, :2] = 10.0
    queries[0, 2:] = -10.0
    cache = KVCache([keys], [torch.arange(n, dtype=torch.float32).expand(1, 2, n).unsqueeze(-1)
                             .expand(1, 2, n, d).clone()], n)  # fmt: skip
    out = compress.snapkv(cache, [queries], budget, extra=3)
    kept = out.v[0][0, :, :budget, 0].long()
    assert out.length == budget
    window = list(range(n - 32, n))
    for head, voted in ((0, 7), (1, 50)):
        chosen = kept[head, : budget - 32].tolist()
        assert voted in chosen and chosen == sorted(chosen) and max(chosen) < n - 32
        assert kept[head, budget - 32 :].tolist() == window
    assert kept[0, :8].tolist() != kept[1, :8].tolist()  # each KV head chose its own tokens
