"""GGUF files → ModelSpec: a small reader of the documented GGUF header (no torch, no `gguf`).

Layout (ggml docs/gguf.md, versions 2 and 3, little-endian): magic "GGUF", uint32 version,
uint64 tensor count, uint64 metadata count; metadata as (string key, uint32 type, value); then per
tensor (string name, uint32 dims, uint64 × dims, uint32 ggml type, uint64 offset); then the data,
aligned to `general.alignment` (default 32). Strings are a uint64 length and UTF-8 bytes; an array
is a uint32 element type, a uint64 count and the elements. The `gguf` package's reader parses every
array into numpy views (6 s for a 100 MB file); this one skips arrays it does not keep (50 ms).

The architecture comes from the `{arch}.*` keys, mapped onto config.json names and read by
`hf_config.model_from_hf_config`, so a GGUF and its config.json give the same shapes.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magicplan.errors import MagicplanError
from magicplan.specs.hf_config import model_from_hf_config
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import FORMATS, with_weight_format

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32  # ggml docs/gguf.md: GGUF_DEFAULT_ALIGNMENT
MAX_COUNT = 10**7  # tensors or metadata entries: far above any published model, a corruption guard
KEEP_ARRAY = 64  # arrays up to this many elements are kept (per-layer values); longer ones skipped
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip  # gguf_type (docs/gguf.md)
_STRING, _ARRAY = 8, 9
# ggml tensor types: name, elements per block, bytes per block (ggml's type traits; the same table
# as gguf-py's GGML_QUANT_SIZES).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
}  # fmt: skip
# Weight types a ModelSpec dtype states exactly; quantized weights are not expressible there yet.
EXACT_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
# Quantized weights: costed at 16 bits, llama.cpp's default KV-cache and activation type (f16).
QUANTIZED_COST_DTYPE = "float16"
# GGUF architecture → config.json model_type (those hf_config models).
ARCHITECTURES = {
    "llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen2moe": "qwen2_moe",
    "qwen3": "qwen3", "qwen3moe": "qwen3_moe", "gemma": "gemma", "gemma2": "gemma2",
    "gemma3": "gemma3_text", "phi3": "phi3",
}  # fmt: skip


@dataclass(frozen=True)
class ArrayInfo:
    """A metadata array too long to keep: its element type and length."""

    type: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: name, shape in ggml order (fastest dimension first), ggml type, data offset."""

    name: str
    shape: tuple[int, ...]
    type: int
    offset: int  # bytes from the start of the data section

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.type, (f"type {self.type}", 1, 0))[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's data (0 for a type this reader does not know)."""
        _, block, size = GGML_TYPES.get(self.type, ("", 1, 0))
        return self.elements // block * size


@dataclass(frozen=True)
class GGUFHeader:
    """Everything before the tensor data of a GGUF file."""

    path: str
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    data_offset: int  # absolute file offset of the data section


class _Cursor:
    """Little-endian reads from a buffer; running past its end is a clean error."""

    def __init__(self, buf: Any, path: str) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def scalar(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise MagicplanError(f"{self.path}: GGUF header is truncated")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.scalar("<Q")
        if self.pos + n > len(self.buf):
            raise MagicplanError(f"{self.path}: GGUF header is truncated")
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def count(self, what: str) -> int:
        n = self.scalar("<Q")
        if n > MAX_COUNT:
            raise MagicplanError(f"{self.path}: GGUF {what} count {n} is not plausible")
        return int(n)

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            return self.array()
        raise MagicplanError(f"{self.path}: GGUF metadata has unknown value type {kind}")

    def array(self) -> list[Any] | ArrayInfo:
        kind, n = self.scalar("<I"), self.count("array")
        if n <= KEEP_ARRAY:
            return [self.value(kind) for _ in range(n)]
        if kind in _SCALARS:  # fixed-size elements: skip in one step
            self.pos += n * struct.calcsize(_SCALARS[kind])
        elif kind == _STRING:  # a vocabulary: hop from length to length
            pos, length = self.pos, struct.Struct("<Q").unpack_from
            for _ in range(n):
                pos += 8 + length(self.buf, pos)[0]
            self.pos = pos
        else:
            for _ in range(n):
                self.value(kind)
        if self.pos > len(self.buf):
            raise MagicplanError(f"{self.path}: GGUF header is truncated")
        return ArrayInfo(kind, n)


def read_header(path: str | Path) -> GGUFHeader:
    """Metadata and tensor infos of the GGUF file at `path` (tensor data is not read)."""
    p = Path(path)
    if not p.is_file():
        raise MagicplanError(f"{p}: file not found")
    try:
        with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Cursor(buf, str(p)))
    except MagicplanError:
        raise
    except (OSError, ValueError, struct.error) as exc:  # ValueError: mmap of an empty file
        raise MagicplanError(f"{p}: cannot read as GGUF ({exc.__class__.__name__})") from exc


def _parse(cur: _Cursor) -> GGUFHeader:
    if bytes(cur.buf[:4]) != MAGIC:
        raise MagicplanError(f"{cur.path}: not a GGUF file (no 'GGUF' magic)")
    cur.pos = 4
    version = cur.scalar("<I")
    if version not in (2, 3):
        raise MagicplanError(f"{cur.path}: GGUF version {version}; supported: 2, 3")
    n_tensors, n_kv = cur.count("tensor"), cur.count("metadata")
    metadata = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.scalar("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        dims = tuple(int(cur.scalar("<Q")) for _ in range(cur.scalar("<I")))
        tensors.append(TensorInfo(name, dims, cur.scalar("<I"), cur.scalar("<Q")))
    align = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
    data = -(-cur.pos // align) * align
    return GGUFHeader(cur.path, version, metadata, tuple(tensors), data)


def model_id(path: str | Path) -> str:
    """The id a GGUF file loads as: its file name without '.gguf', lower-cased and slugged."""
    name = Path(path).name
    stem = name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._") or "model"


def weight_type(header: GGUFHeader) -> tuple[str, float]:
    """The ggml type most weight elements are stored in, and bits per weight over all tensors."""
    by_type: dict[str, int] = {}
    for t in header.tensors:
        if len(t.shape) >= 2:
            by_type[t.type_name] = by_type.get(t.type_name, 0) + t.elements
    elements = sum(t.elements for t in header.tensors) or 1
    bits = 8 * sum(t.nbytes for t in header.tensors) / elements
    return (max(by_type, key=lambda k: by_type[k]) if by_type else "F32"), bits


def hf_config(header: GGUFHeader) -> dict[str, Any]:
    """The config.json fields of the model in `header` (the keys `model_from_hf_config` reads,
    plus rope and norm constants for loading weights)."""
    meta = header.metadata
    arch = str(meta.get("general.architecture", ""))
    if arch not in ARCHITECTURES:
        raise MagicplanError(
            f"{header.path}: GGUF general.architecture is '{arch}'; "
            f"supported: {', '.join(ARCHITECTURES)}"
        )

    def get(key: str, default: Any = None) -> Any:
        value = meta.get(f"{arch}.{key}", default)
        if isinstance(value, (list, ArrayInfo)):
            raise MagicplanError(f"{header.path}: GGUF {arch}.{key} varies per layer; unsupported")
        return value

    experts = get("expert_count")
    model_type = "mixtral" if arch == "llama" and experts else ARCHITECTURES[arch]
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = get("vocab_size") or (tokens.length if isinstance(tokens, ArrayInfo) else None)
    wtype, _ = weight_type(header)
    cfg = {
        "model_type": model_type,
        "hidden_size": get("embedding_length"),
        "intermediate_size": get("feed_forward_length"),
        "num_hidden_layers": get("block_count"),
        "num_attention_heads": get("attention.head_count"),
        "num_key_value_heads": get("attention.head_count_kv"),
        "head_dim": get("attention.key_length"),
        "max_position_embeddings": get("context_length"),
        "vocab_size": vocab,
        "tie_word_embeddings": all(t.name != "output.weight" for t in header.tensors),
        "rope_theta": get("rope.freq_base", 10000.0),
        "rms_norm_eps": get("attention.layer_norm_rms_epsilon", 1e-5),
        "sliding_window": get("attention.sliding_window"),
        "num_local_experts": experts,
        "num_experts": experts,
        "num_experts_per_tok": get("expert_used_count"),
        "moe_intermediate_size": get("expert_feed_forward_length"),
        "shared_expert_intermediate_size": get("expert_shared_feed_forward_length"),
        "torch_dtype": EXACT_DTYPES.get(wtype, QUANTIZED_COST_DTYPE),
        "_name_or_path": str(meta.get("general.name") or model_id(header.path)),
    }
    return {k: v for k, v in cfg.items() if v is not None}


def model_from_gguf(path: str | Path) -> ModelSpec:
    """A ModelSpec from a GGUF file's metadata; its id is `model_id(path)`."""
    header = read_header(path)
    spec = model_from_hf_config(hf_config(header), str(path), model_id(path))
    wtype, bits = weight_type(header)
    note = f"weights {wtype}, {bits:.2f} bits/weight over all tensors"
    if wtype.lower() in FORMATS:  # Q4_0, Q4_1, Q8_0, Q4_K: their block layouts
        spec = with_weight_format(spec, wtype.lower())
    elif wtype not in EXACT_DTYPES:
        note += f" (no modelled layout for {wtype}: costed as {QUANTIZED_COST_DTYPE})"
    return spec.model_copy(update={"source": f"GGUF metadata: {path}; {note}"})
