"""A Llama-architecture GGUF file → a Hugging Face checkpoint folder (float32 safetensors,
config.json, tokenizer), written once into the cache and reused.

Weights are dequantized with the `gguf` package (`gguf.quants.dequantize`, numpy) from the tensor
infos of `magicplan.specs.gguf`: ~3 s for SmolLM2-135M, against ~30 s for transformers' own GGUF
loader, which parses the file twice. llama.cpp's converter stores Q and K rows permuted for its
interleaved rotary layout (convert_hf_to_gguf.py, `LlamaModel.permute`); `unpermute` undoes it,
as transformers does. The tokenizer is transformers' conversion of the GGUF vocabulary.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.specs.gguf import GGUFHeader, TensorInfo, hf_config, model_id, read_header

GGUF_TO_HF = {
    "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}  # fmt: skip


def cache_root() -> Path:
    """Where converted checkpoints live: $MAGICPLAN_CACHE, else $XDG_CACHE_HOME/magicplan, else
    ~/.cache/magicplan."""
    if os.environ.get("MAGICPLAN_CACHE"):
        return Path(os.environ["MAGICPLAN_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "magicplan"


def cache_folder(path: Path) -> Path:
    """The cache folder of one version of a GGUF file (keyed by name, size and mtime)."""
    st = path.stat()
    return cache_root() / "gguf" / f"{model_id(path)}-{st.st_size}-{st.st_mtime_ns}"


def hf_name(gguf_name: str) -> str:
    """The Hugging Face Llama name of a GGUF tensor ('blk.3.attn_q.weight' → layer 3's q_proj)."""
    parts = gguf_name.split(".")
    if parts[0] == "blk" and len(parts) == 4 and parts[2] in GGUF_TO_HF:
        return f"model.layers.{parts[1]}.{GGUF_TO_HF[parts[2]]}.{parts[3]}"
    if len(parts) == 2 and parts[0] in GGUF_TO_HF:
        return f"{GGUF_TO_HF[parts[0]]}.{parts[1]}"
    raise MagicplanError(f"GGUF tensor '{gguf_name}' has no Llama counterpart; unsupported")


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row permutation: rows (heads, half, 2) back to (heads, 2, half)."""
    half = w.shape[0] // heads // 2
    return w.reshape(heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def dequantize(raw: np.ndarray, t: TensorInfo) -> np.ndarray:
    """float32 values of tensor `t` from its raw bytes, shaped as PyTorch (rows, columns)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize as gguf_dequantize

    rows = t.elements // t.shape[0]
    values = gguf_dequantize(raw.reshape(rows, -1), GGMLQuantizationType(t.type))
    return np.ascontiguousarray(values.reshape(tuple(reversed(t.shape))), dtype=np.float32)


def read_weights(header: GGUFHeader, cfg: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every tensor of the file, dequantized, under its Hugging Face name."""
    data = np.memmap(header.path, dtype=np.uint8, mode="r")
    heads = {"attn_q": cfg["num_attention_heads"], "attn_k": cfg["num_key_value_heads"]}
    out = {}
    for t in header.tensors:
        if t.name == "rope_freqs.weight":
            raise MagicplanError(
                f"{header.path}: scaled rotary frequencies (rope_freqs) are not supported; "
                "give the Hugging Face checkpoint folder instead"
            )
        start = header.data_offset + t.offset
        w = dequantize(data[start : start + t.nbytes], t)
        kind = t.name.split(".")[2] if t.name.startswith("blk.") else ""
        out[hf_name(t.name)] = unpermute(w, heads[kind]) if kind in heads else w
    return out


def convert(path: Path, folder: Path) -> None:
    """Write `folder`: model.safetensors, config.json and the tokenizer of GGUF file `path`."""
    from safetensors.numpy import save_file
    from transformers import AutoTokenizer

    header = read_header(path)
    cfg = hf_config(header)
    if cfg["model_type"] not in ("llama", "mistral"):
        raise MagicplanError(f"{path}: acceptance runs Llama-architecture GGUF files only")
    meta = header.metadata
    cfg |= {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "float32",
    }
    cfg |= {f"{k}_token_id": meta[f"tokenizer.ggml.{k}_token_id"] for k in ("bos", "eos")
            if f"tokenizer.ggml.{k}_token_id" in meta}  # fmt: skip
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_file(read_weights(header, cfg), str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        tok = AutoTokenizer.from_pretrained(
            str(path.parent), gguf_file=path.name, local_files_only=True
        )
        tok.save_pretrained(str(tmp))
        try:
            os.replace(tmp, folder)  # whole or not at all
        except OSError:  # another process converted it meanwhile
            if not (folder / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def converted(path: Path) -> Path:
    """The cached Hugging Face folder of GGUF file `path`, converted on first use (a spinner on
    stderr meanwhile: ~25 s for a 100 MB file, most of it the tokenizer)."""
    from rich.console import Console

    folder = cache_folder(path)
    if not (folder / "config.json").is_file():
        with Console(stderr=True).status(f"converting {path.name} into {folder.parent}"):
            convert(path, folder)
    return folder
