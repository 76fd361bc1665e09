"""GGUF metadata → ModelSpec: a file written here byte by byte after ggml's docs/gguf.md, the
clean errors, and the real SmolLM2-135M file when CI has fetched it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from magicplan.errors import MagicplanError
from magicplan.specs import load_model
from magicplan.specs.gguf import hf_config, model_from_gguf, model_id, read_header

SMOLLM = Path(__file__).resolve().parents[2] / ".cache" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, value: object) -> bytes:
    if isinstance(value, str):
        return _str(key) + struct.pack("<I", 8) + _str(value)
    if isinstance(value, float):
        return _str(key) + struct.pack("<If", 6, value)
    if isinstance(value, list):  # an array of strings
        body = b"".join(_str(v) for v in value)
        return _str(key) + struct.pack("<IIQ", 9, 8, len(value)) + body
    return _str(key) + struct.pack("<II", 4, value)  # uint32


def write_gguf(path: Path, arch: str = "llama", version: int = 3, **extra: object) -> Path:
    """A Llama-shaped GGUF header: 2 layers, hidden 64, 4 heads / 2 KV heads, 100 tokens, and the
    tensor infos of layer 0's Q (Q4_1) and the embedding (F32); no LM head (tied)."""
    meta: dict[str, object] = {
        "general.architecture": arch, "general.name": "Tiny Test",
        f"{arch}.block_count": 2, f"{arch}.embedding_length": 64,
        f"{arch}.feed_forward_length": 128, f"{arch}.attention.head_count": 4,
        f"{arch}.attention.head_count_kv": 2, f"{arch}.context_length": 2048,
        f"{arch}.rope.freq_base": 10000.0, "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(100)],
    }  # fmt: skip
    meta |= extra
    tensors = [("blk.0.attn_q.weight", (64, 64), 3, 0), ("token_embd.weight", (64, 100), 0, 2560)]
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(meta))
    out += b"".join(_kv(k, v) for k, v in meta.items())
    for name, dims, kind, offset in tensors:
        out += _str(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        out += struct.pack("<IQ", kind, offset)
    path.write_bytes(out + b"\0" * 64)
    return path


def test_header_fields_and_aligned_data_offset(tmp_path: Path) -> None:
    h = read_header(write_gguf(tmp_path / "Tiny-Model.Q4_1.gguf"))
    assert h.version == 3 and h.metadata["llama.block_count"] == 2
    assert h.metadata["tokenizer.ggml.tokens"].length == 100  # a long array is skipped, counted
    assert [t.name for t in h.tensors] == ["blk.0.attn_q.weight", "token_embd.weight"]
    assert h.tensors[0].nbytes == 64 * 64 // 32 * 20  # Q4_1: 20 bytes per 32 weights
    assert h.data_offset % 32 == 0 and h.data_offset >= 0


def test_spec_from_gguf_metadata(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "Tiny-Model.Q4_1.gguf")
    spec = load_model(path)  # through the registry, as --model and --drafts resolve it
    assert spec.id == model_id(path) == "tiny-model.q4_1"
    assert (spec.hidden_size, spec.num_layers, spec.num_kv_heads, spec.vocab_size) == (
        64,
        2,
        2,
        100,
    )
    assert spec.tie_word_embeddings  # no output.weight tensor
    # 2 layers x (Q, O 64x64; K, V 64x32; MLP 3 x 64x128; 2 norms) + 100x64 embedding + final norm
    assert spec.num_parameters == 2 * (2 * 4096 + 2 * 2048 + 3 * 8192 + 128) + 6400 + 64
    # Q4_1 (4,096 weights) and F32 (6,400): the most weight elements are F32 here
    assert spec.dtype == "float32" and "weights F32" in spec.source


def test_estimate_takes_a_gguf_as_model_and_draft(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from magicplan.cli import app

    path = str(write_gguf(tmp_path / "Tiny-Model.Q4_1.gguf"))
    args = ["estimate", "--hardware", "h100-sxm", "--model", path, "--draft", path, "--batch",
            "8", "--context", "1024", "--kv-method", "streamingllm", "--kv-budget", "256",
            "--gamma", "3", "--acceptance", "0.8", "--json"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "tiny-model.q4_1" in r.output


def test_quantized_weights_are_named_not_hidden(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "q.gguf")
    data = bytearray(path.read_bytes())  # make the embedding Q4_1 too: quantized dominates
    at = data.index(b"token_embd.weight") + len("token_embd.weight") + 4 + 16
    data[at : at + 4] = struct.pack("<I", 3)
    path.write_bytes(bytes(data))
    spec = model_from_gguf(path)
    assert "weights Q4_1, 5.00 bits/weight" in spec.source  # 20 bytes / 32 weights
    # costed in its block layout (ggml: 32 weights in 16 bytes + fp16 scale and minimum)
    assert (spec.weight_dtype, spec.weight_group_size, spec.weight_group_bytes) == ("int4", 32, 4.0)
    assert spec.linear_weight_bytes_per_parameter == pytest.approx(20 / 32)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "cannot read as GGUF"),
        (b"NOPE" + b"\0" * 40, "not a GGUF file"),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "GGUF version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + _str("a.b"), "truncated"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(MagicplanError, match=message):
        read_header(path)


def test_unsupported_architecture_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MagicplanError, match=r"general\.architecture is 'bert'"):
        hf_config(read_header(write_gguf(tmp_path / "b.gguf", arch="bert")))
    with pytest.raises(MagicplanError, match="file not found"):
        load_model(tmp_path / "missing.gguf")


@pytest.mark.skipif(not SMOLLM.is_file(), reason="SmolLM2-135M GGUF not fetched (.ci/run does)")
def test_smollm2_135m_gguf_matches_its_published_shape() -> None:
    spec = load_model(SMOLLM)
    # HuggingFaceTB/SmolLM2-135M config.json: 30 layers, hidden 576, 9 heads, 3 KV heads,
    # MLP 1536, vocab 49152, tied embeddings, 8k positions (the GGUF's context_length).
    assert spec.id == "smollm2-135m-instruct.q4_1"
    assert (spec.num_layers, spec.hidden_size, spec.num_attention_heads) == (30, 576, 9)
    assert (spec.num_kv_heads, spec.intermediate_size, spec.vocab_size) == (3, 1536, 49152)
    assert spec.num_parameters == 134_515_008  # "135M"
    assert "weights Q4_1" in spec.source
