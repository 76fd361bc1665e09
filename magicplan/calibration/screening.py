"""Which published decode rows can stand for a steady decode step of their whole batch.

An engine preset (`calibration.presets`) is fitted only to rows that pass these checks; every row
left out keeps its reason, printed by `python -m magicplan.calibration.presets`:
- the reference marks the derivation LOW-CONFIDENCE (the prefill share of a whole-run time is
  large) or the row a PROXY (e.g. a prompt microbatch standing in for a decode batch);
- its model or GPU has no shipped profile;
- it is physically impossible as a resident decode step: the batch's KV cache and the weights do
  not fit in the GPU's memory (or in the KV budget the measured engine version gives its cache:
  beyond it the engine queues sequences and the step holds fewer of them); the step is faster
  than its bytes at peak bandwidth (no overheads, every byte at the datasheet rate); or it grows
  with the context more slowly than the extra KV bytes can be read at peak bandwidth (against the
  same setup at a shorter context), by more than NOISE of the step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from magicplan.calibration.fit import START, StepSample
from magicplan.calibration.measurements import Measurement, decode_samples, served_model
from magicplan.cost.memory import kv_cache_bytes_per_gpu, weight_bytes_per_gpu
from magicplan.cost.operators import shard
from magicplan.cost.roofline import make_roofline
from magicplan.cost.steps import autoregressive_time
from magicplan.errors import MagicplanError
from magicplan.specs import load_hardware
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import with_kv_format

FLAGS = ("LOW-CONFIDENCE", "PROXY")
# A row whose setup (engine, GPU, TP, model, format, batch) repeats at a shorter context.
_SETUP = ("engine", "gpu", "num_gpus", "model", "dtype", "batch")

# Run-to-run spread of published step times and their rounding (rows printed to 1 ms): a shorter
# context row may look this much too slow before the pair counts as impossible.
NOISE = 0.03
KvFormats = dict[str, str]  # row-id regular expression → KV-cache format the source names


def kv_format(m: Measurement, kv_formats: KvFormats) -> str | None:
    """The KV-cache format of row `m` (None: the model's dtype)."""
    return next((f for ids, f in kv_formats.items() if re.fullmatch(ids, m.id)), None)


def samples(rows: Sequence[Measurement], kv_formats: KvFormats) -> list[StepSample]:
    """Decode rows as StepSamples, with the KV-cache format their source names."""
    out = decode_samples(list(rows))
    return [
        replace(s, target=with_kv_format(s.target, kv_format(m, kv_formats)))
        for m, s in zip(rows, out, strict=True)
    ]


def ideal_step_s(sample: StepSample) -> float:
    """The row's step with every byte and FLOP at the datasheet peak and no overheads."""
    assert sample.hardware is not None
    model = sample.target
    rf = make_roofline(sample.hardware, START, model.compute_dtype, ideal=True)
    t = autoregressive_time(model, rf, sample.num_gpus, sample.batch, sample.context)
    return float(t.total_s[0])


def resident_bytes(m: Measurement, model: ModelSpec) -> float:
    """Bytes one GPU holds for the row's batch: weights and the KV cache at its context."""
    sh = shard(model, m.num_gpus)
    kv = kv_cache_bytes_per_gpu(model, sh, m.batch, m.context)
    return weight_bytes_per_gpu(model, sh) + float(kv)


def _why_unknown(m: Measurement) -> str | None:
    try:
        served_model(m)
        load_hardware(m.gpu)
    except MagicplanError as exc:
        return f"not shipped: {exc}".split(";")[0]
    return None


def _why_impossible(m: Measurement, s: StepSample, kv_budget: float | None) -> str | None:
    hw = s.hardware
    assert hw is not None
    held = resident_bytes(m, s.target)
    if held > hw.memory_bytes:
        return (
            f"not resident: weights + KV of {m.batch} × {m.context} tokens = {held / 1e9:.0f} GB "
            f"> {hw.memory_bytes / 1e9:.0f} GB on {hw.id}"
        )
    weights = weight_bytes_per_gpu(s.target, shard(s.target, m.num_gpus))
    if kv_budget is not None and held - weights > kv_budget * (hw.memory_bytes - weights):
        return (
            f"not resident: KV of {m.batch} × {m.context} tokens = {(held - weights) / 1e9:.0f} GB "
            f"> the engine's KV budget {kv_budget} × {(hw.memory_bytes - weights) / 1e9:.0f} GB"
        )
    floor = ideal_step_s(s)
    if m.measured_s < floor:
        return (
            f"faster than peak: {m.measured_s * 1e3:.2f} ms < {floor * 1e3:.2f} ms for its bytes "
            f"at {hw.id}'s datasheet bandwidth"
        )
    return None


def _setup(m: Measurement) -> tuple[object, ...]:
    return tuple(getattr(m, f) for f in _SETUP)


def _why_too_flat(
    m: Measurement, s: StepSample, shorter: list[tuple[Measurement, float]]
) -> str | None:
    """The row against the same setup at a shorter context: its extra time must cover the extra
    KV bytes at peak bandwidth."""
    floor = ideal_step_s(s)
    for other, other_floor in shorter:
        shortfall = (floor - other_floor) - (m.measured_s - other.measured_s)
        if shortfall > NOISE * m.measured_s:
            return (
                f"too flat in context: {other.id} → {m.id} adds "
                f"{1e3 * (m.measured_s - other.measured_s):.2f} ms, reading the extra KV needs "
                f"≥ {1e3 * (floor - other_floor):.2f} ms at peak"
            )
    return None


def screen(
    rows: Sequence[Measurement],
    kv_formats: KvFormats | None = None,
    left_out: dict[str, str] | None = None,
    kv_budget: float | None = None,
) -> tuple[list[Measurement], dict[str, str]]:
    """The rows that pass every check, and why each other row was left out (id → reason).
    `kv_budget`: the fraction of the memory left after the weights that the measured engine
    version gives its KV cache (None: all of it)."""
    kv_formats, left_out = kv_formats or {}, left_out or {}
    kept: list[tuple[Measurement, StepSample]] = []
    dropped: dict[str, str] = {}
    for m in rows:
        reason = next((r for ids, r in left_out.items() if re.fullmatch(ids, m.id)), None)
        reason = reason or next((f"marked {f}" for f in FLAGS if f in m.note), None)
        reason = reason or _why_unknown(m)
        s = samples([m], kv_formats)[0] if reason is None else None
        reason = reason or (_why_impossible(m, s, kv_budget) if s is not None else None)
        if reason is not None:
            dropped[m.id] = reason
        else:
            assert s is not None
            kept.append((m, s))
    return _drop_flat(kept, dropped)


def _drop_flat(
    kept: list[tuple[Measurement, StepSample]], dropped: dict[str, str]
) -> tuple[list[Measurement], dict[str, str]]:
    floors = {m.id: ideal_step_s(s) for m, s in kept}
    out = []
    for m, s in kept:
        shorter = [
            (o, floors[o.id]) for o, _ in kept if _setup(o) == _setup(m) and o.context < m.context
        ]
        reason = _why_too_flat(m, s, shorter)
        if reason is None:
            out.append(m)
        else:
            dropped[m.id] = reason
    return out, dropped
