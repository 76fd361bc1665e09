"""Real weights in the torch runner's decoder: logits equal transformers' own model (float32),
with and without the `full` mask; the GGUF Q/K un-permutation inverts llama.cpp's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from magicplan.acceptance.checkpoint import resolve  # noqa: E402
from magicplan.acceptance.gguf_weights import hf_name, unpermute  # noqa: E402
from magicplan.acceptance.weights import load_weights  # noqa: E402
from magicplan.calibration.torch_runner.compress import keep_mask  # noqa: E402
from magicplan.calibration.torch_runner.model import forward, new_cache  # noqa: E402


def _against_transformers(folder: Path, ckpt: Any, tokens: Any) -> None:
    from transformers import AutoModelForCausalLM

    w = load_weights(folder, ckpt.spec, ckpt.config, "cpu", "float32")
    ref = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch.float32, local_files_only=True
    )
    n = tokens.shape[1]
    with torch.inference_mode():
        expected = ref(tokens).logits
        plain, _ = forward(w, new_cache(w.spec, 1, n), tokens, 0)
        cache = new_cache(w.spec, 1, n)
        half = n // 2
        forward(w, cache, tokens[:, :half], 0)  # prompt, then the rest under the `full` mask
        masked, _ = forward(w, cache, tokens[:, half:], half, keep=keep_mask("full", cache, 0))
    scale = expected.abs().max()
    torch.testing.assert_close(plain, expected, rtol=0, atol=1e-4 * scale)
    torch.testing.assert_close(masked, expected[:, half:], rtol=0, atol=1e-4 * scale)


def test_tiny_checkpoint_matches_transformers(tiny_folder: Path) -> None:
    tokens = torch.randint(0, 101, (1, 40), generator=torch.Generator().manual_seed(0))
    _against_transformers(tiny_folder, resolve(tiny_folder), tokens)


def test_smollm2_matches_transformers(smollm: Any) -> None:
    tokens = torch.randint(0, 49152, (1, 48), generator=torch.Generator().manual_seed(0))
    _against_transformers(smollm.folder, smollm, tokens)


def test_unpermute_inverts_llama_cpp_permute() -> None:
    # convert_hf_to_gguf.py LlamaModel.permute: w.reshape(heads, 2, rows/heads/2, cols)
    # .swapaxes(1, 2).reshape(w.shape)
    heads, rows, cols = 3, 12, 5
    w = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    permuted = w.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(w.shape)
    assert not np.array_equal(permuted, w)
    np.testing.assert_array_equal(unpermute(permuted, heads), w)


def test_gguf_names_map_to_llama_names() -> None:
    assert hf_name("blk.7.attn_k.weight") == "model.layers.7.self_attn.k_proj.weight"
    assert hf_name("token_embd.weight") == "model.embed_tokens.weight"
    assert hf_name("output_norm.weight") == "model.norm.weight"
