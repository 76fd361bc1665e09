"""Published kernel and step measurements of serving engines (magicplan/data/
engine_measurements.csv: decode steps, linear layers, decode-attention calls, prefills) and
what the cost model predicts for each: the evidence behind the hardware `achieved` blocks and the
engine profiles.

Columns: id, source, kind, engine, gpu, num_gpus, model, dtype, batch, context, tokens,
measured_ms, note. A `model` is a shipped model id (its weights in the row's `dtype` format,
`specs.quantization`) or, for attention calls, a head shape "32q/8kv heads d128".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from magicplan.calibration.fit import StepSample
from magicplan.cost.operators import attention_op, shard, token_ops
from magicplan.cost.roofline import Roofline, op_total
from magicplan.errors import MagicplanError
from magicplan.io import read_csv_rows
from magicplan.specs import load_hardware, load_model
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import with_weight_format
from magicplan.units import MS

_DIR = Path(__file__).resolve().parent.parent / "data"
# The reference measurements (verbatim copy) and further published rows, each citing its source.
DATA = _DIR / "engine_measurements.csv"
SOURCED = _DIR / "engine_measurements_sourced.csv"
COLUMNS = ("id", "source", "kind", "engine", "gpu", "model", "measured_ms")
LINEAR_OPS = ("qkv_proj", "o_proj", "mlp")  # what Vidur's mlp.csv times: one layer's GEMMs
# Model names the sources use for shipped profiles.
# (LLaMA-1 7B has the Llama-2-7B shapes; Mistral-7B-v0.2 the v0.1 shapes without the 4k window,
# the same cost up to 4k tokens; "a100-80gb" rows do not say SXM or PCIe: the SXM part.)
MODEL_ALIASES = {
    "gpt2-124m": "gpt2", "llama-7b": "llama-2-7b", "mistral-7b-v0.2": "mistral-7b-v0.1",
}  # fmt: skip
GPU_ALIASES = {"a100-80gb": "a100-80gb-sxm"}


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One published measurement."""

    id: str
    source: str
    kind: str  # decode_step | linear_layer | decode_attention | prefill
    engine: str
    gpu: str
    num_gpus: int
    model: str
    dtype: str
    batch: int
    context: int
    tokens: int
    measured_s: float
    note: str


def _int(text: str, default: int) -> int:
    return int(float(text)) if text.strip() else default


@lru_cache(maxsize=8)
def read_measurements(path: str | Path = DATA) -> tuple[Measurement, ...]:
    """Every row of a measurements CSV (the shipped one by default)."""
    out = []
    for i, r in enumerate(read_csv_rows(path, COLUMNS)):
        try:
            out.append(
                Measurement(
                    id=r["id"], source=r["source"], kind=r["kind"], engine=r["engine"],
                    gpu=GPU_ALIASES.get(r["gpu"], r["gpu"]),
                    num_gpus=_int(r.get("num_gpus", ""), 1), model=r["model"],
                    dtype=r.get("dtype", "") or "bf16", batch=_int(r.get("batch", ""), 1),
                    context=_int(r.get("context", ""), 0), tokens=_int(r.get("tokens", ""), 1),
                    measured_s=float(r["measured_ms"]) * MS, note=r.get("note", ""),
                )
            )  # fmt: skip
        except ValueError as exc:
            raise MagicplanError(f"{path}: row {i + 2}: {exc}") from exc
    return tuple(out)


def select(ids: str, kind: str | None = None) -> list[Measurement]:
    """The rows (of the reference and the sourced file) whose id matches the regular expression
    `ids` (and `kind`), in file order."""
    pattern = re.compile(ids)
    return [
        m
        for path in (DATA, SOURCED)
        for m in read_measurements(path)
        if pattern.fullmatch(m.id) and (kind is None or m.kind == kind)
    ]


def served_model(m: Measurement) -> ModelSpec:
    """The row's model in the row's weight format."""
    return with_weight_format(load_model(MODEL_ALIASES.get(m.model, m.model)), m.dtype)


def decode_samples(rows: list[Measurement]) -> list[StepSample]:
    """Decode-step rows as autoregressive StepSamples, one per row (each with its hardware)."""
    out = []
    for i, m in enumerate(rows):
        if m.kind != "decode_step":
            raise MagicplanError(f"row {m.id} is a {m.kind}, not a decode_step")
        one = np.array([1.0])
        out.append(
            StepSample(
                kind="autoregressive", target=served_model(m), num_gpus=m.num_gpus,
                draft_num_gpus=m.num_gpus, batch=one * m.batch, context=one * m.context,
                gamma=one, kv_budget=one * 0.0, measured_s=np.array([m.measured_s]),
                row=np.array([i]), hardware=load_hardware(m.gpu),
            )
        )  # fmt: skip
    return out


def linear_layer_s(m: Measurement, rf: Roofline) -> float:
    """Seconds of one decoder layer's GEMMs (QKV, O, gate/up, down) at the row's tokens."""
    model = served_model(m)
    ops = token_ops(model, shard(model, m.num_gpus), np.array(float(m.tokens)))
    per_layer = [op for op in ops if op.name in LINEAR_OPS]
    return float(sum(op_total(op, rf) / op.count for op in per_layer))


HEADS = re.compile(r"(\d+)q/(\d+)kv heads d(\d+)")


def attention_call_s(m: Measurement, rf: Roofline, hw: HardwareSpec) -> float:
    """Seconds of one decode-attention call of the row's head shape, batch and KV length: its
    roofline time plus the kernel's per-call floor."""
    found = HEADS.fullmatch(m.model)
    if found is None:
        raise MagicplanError(f"row {m.id}: model must be a head shape like '32q/8kv heads d128'")
    heads, kv, d = (int(x) for x in found.groups())
    shape = ModelSpec(
        id="heads", name=m.model, architecture="attention", hidden_size=heads * d,
        intermediate_size=1, num_layers=1, num_attention_heads=heads, num_kv_heads=kv,
        head_dim=d, vocab_size=1, max_position_embeddings=max(m.context, 1) + 1,
        dtype="float16" if m.dtype in ("float16", "fp16") else "bfloat16", source=m.source,
    )  # fmt: skip
    op = attention_op(shape, shard(shape, 1), m.batch, 1.0, m.context, 1)
    return float(op_total(op, rf)) + rf.attention_floor_s
