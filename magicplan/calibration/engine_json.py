"""Latency benchmarks that engines write, read as AR-only measurement rows (batch, context,
t_autoregressive_ms): what a user can measure on their own engine without magicplan.

- SGLang `python -m sglang.bench_one_batch ... --result-filename F` appends one JSON object per
  run (JSON lines) with `batch_size`, `input_len`, `output_len` and `median_decode_latency`
  (seconds per decode step of the whole batch): one row each, at the mean context of the decode
  (input + output / 2).
- vLLM `benchmark_latency.py` / `vllm bench latency --output-json F` writes {"avg_latency": s,
  "latencies": [...], "percentiles": {...}}: the whole run (prefill + output_len - 1 decode
  steps) of one batch. Its batch, input and output lengths are the command's arguments (give
  them as --batch/--input-len/--output-len when the file does not carry them); the per-step time
  is (avg_latency - prefill) / (output_len - 1), the prefill predicted by the base engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from magicplan.errors import MagicplanError
from magicplan.io import read_text
from magicplan.scenarios import Columns
from magicplan.units import MS

PrefillS = Callable[[int, int], float]  # (batch, input_len) → predicted prefill seconds


def read_benchmark_json(
    path: str | Path, args: dict[str, int | None], prefill_s: PrefillS
) -> tuple[Columns, list[str]]:
    """AR rows (batch, context, t_autoregressive_ms) from an engine's benchmark JSON, and notes
    on how each was derived."""
    text = read_text(path)
    try:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        if len(records) == 1 and isinstance(records[0], list):
            records = records[0]
    except json.JSONDecodeError:
        try:
            records = [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise MagicplanError(f"{path}: not JSON or JSON lines ({exc.msg})") from exc
    rows: list[tuple[float, float, float]] = []
    notes: list[str] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise MagicplanError(f"{path}: record {i + 1} must be a JSON object")
        if "median_decode_latency" in rec:
            rows.append(_sglang(path, rec))
        elif "avg_latency" in rec:
            row, note = _vllm(path, rec, args, prefill_s)
            rows.append(row)
            notes.append(note)
        else:
            raise MagicplanError(
                f"{path}: record {i + 1} has neither 'median_decode_latency' (SGLang "
                "bench_one_batch) nor 'avg_latency' (vLLM benchmark_latency)"
            )
    batch, context, step_ms = (np.array(c, dtype=np.float64) for c in zip(*rows, strict=True))
    return {"batch": batch, "context": context, "t_autoregressive_ms": step_ms}, notes


def _number(path: str | Path, rec: dict[str, Any], key: str) -> float:
    value = rec.get(key)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            or not math.isfinite(value)):  # fmt: skip
        raise MagicplanError(f"{path}: '{key}' must be a finite positive number; got {value!r}")
    if key in WHOLE and value != int(value):
        raise MagicplanError(f"{path}: '{key}' must be a whole number; got {value!r}")
    return float(value)


WHOLE = ("batch_size", "batch", "input_len", "output_len")  # counts, not measurements


def _sglang(path: str | Path, rec: dict[str, Any]) -> tuple[float, float, float]:
    batch = _number(path, rec, "batch_size")
    ins, outs = _number(path, rec, "input_len"), _number(path, rec, "output_len")
    step_s = _number(path, rec, "median_decode_latency")
    return batch, ins + outs / 2, step_s / MS


def _vllm(
    path: str | Path, rec: dict[str, Any], args: dict[str, int | None], prefill_s: PrefillS
) -> tuple[tuple[float, float, float], str]:
    given = {k: rec.get(k, args.get(k)) for k in ("batch", "input_len", "output_len")}
    given["batch"] = rec.get("batch_size", given["batch"])
    missing = [k for k, v in given.items() if v is None]
    if missing:
        flag = "--" + missing[0].replace("_", "-")
        raise MagicplanError(
            f"{path}: a vLLM benchmark_latency JSON does not record the batch and lengths: give "
            f"{flag} (the value the benchmark ran with)"
        )
    batch, ins, outs = (int(_number(path, given, k)) for k in ("batch", "input_len", "output_len"))
    if outs < 2:
        raise MagicplanError(f"{path}: output_len must be at least 2 to time a decode step")
    total_s = _number(path, rec, "avg_latency")
    pre = prefill_s(batch, ins)
    step_s = (total_s - pre) / (outs - 1)
    if step_s <= 0:
        raise MagicplanError(
            f"{path}: avg_latency {total_s:.4g} s is shorter than the predicted prefill "
            f"{pre:.4g} s: use a longer --output-len run"
        )
    note = (
        f"{Path(path).name}: batch {batch}, {ins} in / {outs} out: step = (avg_latency "
        f"{total_s / MS:.1f} ms - predicted prefill {pre / MS:.1f} ms) / {outs - 1}"
    )
    return (float(batch), ins + outs / 2, step_s / MS), note
