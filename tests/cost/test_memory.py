"""Memory per GPU against hand-derived byte counts."""

from __future__ import annotations

import numpy as np
import pytest

from magicplan.cost.memory import kv_cache_bytes_per_gpu, max_batch, memory_per_gpu, total_bytes
from magicplan.cost.operators import shard
from tests.cost.conftest import make_model


def test_kv_cache_bytes() -> None:
    # Llama-2-7B shapes on 8 GPUs: 4 kv heads/GPU -> 2*32*4*128*2 = 65,536 B per token per GPU.
    m = make_model()
    assert float(kv_cache_bytes_per_gpu(m, shard(m, 8), 2, 1000)) == 2 * 1000 * 65_536


def test_sliding_window_caps_local_layers() -> None:
    # Half the layers keep at most 4096 tokens: 16 layers x 10,000 + 16 x 4096 tokens.
    m = make_model(sliding_window=4096, local_layers=16)
    per_layer_token = 2 * 32 * 128 * 2
    got = float(kv_cache_bytes_per_gpu(m, shard(m, 1), 1, 10_000))
    assert got == (16 * 10_000 + 16 * 4096) * per_layer_token


def test_compressed_self_draft_adds_budget_cache_only() -> None:
    m = make_model()
    sd = memory_per_gpu(m, 1, 1, 8000, 2, kv_method="streamingllm", kv_budget=512)
    per_token = 2 * 32 * 32 * 128 * 2
    assert float(sd["draft_kv"]) == (512 + 2) * per_token
    assert float(sd["draft_weights"]) == 0.0
    full = memory_per_gpu(m, 1, 1, 8000, 2, kv_method="full")
    assert float(full["draft_kv"]) == 0.0  # a full-KV self-draft shares the target's cache


def test_max_batch() -> None:
    # 80 GB capacity, 20 GB fixed, 7 GB per sequence -> 8 sequences.
    assert float(max_batch(80e9, 20e9, 7e9)) == 8.0
    assert float(max_batch(10e9, 20e9, 7e9)) == 0.0


def test_memory_grows_with_batch_and_context() -> None:
    m = make_model()
    small = memory_per_gpu(m, 1, 1, 1000, 2)["total"]
    assert float(memory_per_gpu(m, 1, 2, 1000, 2)["total"]) > float(small)
    assert float(memory_per_gpu(m, 1, 1, 2000, 2)["total"]) > float(small)
    np.testing.assert_array_less(0, small)
    assert pytest.approx(float(small), rel=0.2) == 13.5e9 + 1000 * 524_288


def test_total_bytes_is_fixed_plus_batch_times_per_sequence() -> None:
    # 10 GB of weights, 1 GB of draft weights; 2 MB of KV and 1 MB of the rest per sequence:
    # 4 sequences hold 11e9 + 4 * 3e6 = 11.012e9 bytes.
    fixed = {"weights": 10e9, "draft_weights": 1e9}
    per_sequence = {"kv": np.array(2e6), "draft_kv": np.array(0.0), "activations": np.array(1e6)}
    assert float(total_bytes(fixed, per_sequence, 4)) == 11.012e9
