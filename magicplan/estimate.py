"""`estimate`: step times, speculative speedup, throughput and memory for one strategy, vectorized
over batch, context, γ, budget and acceptance (numpy arrays that broadcast)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.columns import (
    BREAKDOWN_COLUMNS,
    COLUMNS,
    MEMORY_COLUMNS,
    SPECULATIVE_COLUMNS,
    STEPS,
    SUMMARY_COLUMNS,
    Column,
    check_columns,
)
from magicplan.cost.memory import max_batch, memory_terms, total_bytes, usable_bytes
from magicplan.cost.operators import Array
from magicplan.cost.roofline import BREAKDOWN_CLASSES
from magicplan.cost.speculative import (
    check_acceptance,
    expected_tokens,
    round_time,
    spec_time_per_token,
    throughput_tokens_per_s,
)
from magicplan.cost.steps import (
    autoregressive_time,
    draft_time,
    prefill_time,
    snapkv_select_time,
    verify_time,
)
from magicplan.errors import MagicplanError, shown
from magicplan.physics import workload_warnings
from magicplan.setup import Mode, Setup, check_positive
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import Calibration, HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.units import GB, MS

__all__ = ["COLUMNS", "SUMMARY_COLUMNS", "Setup", "check_columns", "estimate", "estimate_arrays"]
# Rows per block when estimating many independent scenarios: numpy's temporaries (256 KiB) then
# stay in cache and the fixed cost of each numpy call is spread over enough rows (benchmarks/).
CHUNK = 1 << 15
STEP_COLUMNS = {*SPECULATIVE_COLUMNS, *BREAKDOWN_COLUMNS}


def estimate_arrays(
    setup: Setup,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike,
    kv_budget: npt.ArrayLike = 512,
    acceptance: npt.ArrayLike | None = None,
    accepted_per_step: npt.ArrayLike | None = None,
    columns: Iterable[str] | None = None,
) -> dict[str, Array]:
    """Figures of `estimate` as arrays in ms, GB, tokens/s (keys are the JSON contract): every
    one of COLUMNS, or only `columns` (what is not asked for is not worked out).

    Axes broadcast together. Many independent rows (1-D columns longer than CHUNK) are checked
    and estimated block by block, straight into the output columns.
    """
    wanted = check_columns(columns)
    if (acceptance is None) == (accepted_per_step is None):
        raise MagicplanError(
            "give exactly one of acceptance (α in [0, 1]) or accepted_per_step (Ω)"
        )
    is_alpha = acceptance is not None
    rate = acceptance if acceptance is not None else accepted_per_step
    assert rate is not None
    axes = tuple(
        _as_array(name, value)
        for name, value in zip(
            ("batch", "context", "gamma", "kv_budget", RATE_NAMES[is_alpha]),
            (batch, context, gamma, kv_budget, rate),
            strict=True,
        )
    )
    n = max(x.size for x in axes)
    if n <= CHUNK or any(x.shape not in ((), (n,)) for x in axes):
        return _estimate_block(setup, *_checked(setup, axes, is_alpha), is_alpha, wanted)

    columns_out = {key: Column(n) for key in wanted}
    for i in range(0, n, CHUNK):
        rows = tuple(x if x.ndim == 0 else x[i : i + CHUNK] for x in axes)
        result = _estimate_block(setup, *_checked(setup, rows, is_alpha), is_alpha, wanted)
        for key, value in result.items():
            columns_out[key].write(i, value)
    return {key: col.array() for key, col in columns_out.items()}


RATE_NAMES = {True: "acceptance", False: "accepted_per_step"}


def _as_array(name: str, value: npt.ArrayLike) -> Array:
    try:
        return np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged lists, huge integers
        raise MagicplanError(f"{name} must be a number; got {shown(value)}") from exc


def _checked(
    setup: Setup, axes: tuple[Array, ...], is_alpha: bool
) -> tuple[Array, Array, Array, Array, Array]:
    """The workload axes (batch, context, γ, budget, rate) as float arrays, each checked (a
    MagicplanError names the first bad one); the rate is α in [0, 1] when `is_alpha`, else Ω in
    [1, γ + 1]."""
    batch, context, gamma, kv_budget, rate = axes
    b = check_positive("batch", batch)
    s = check_positive("context", context)
    g = check_positive("gamma", gamma)
    k = check_positive("kv_budget", kv_budget, allow_zero=True)
    if setup.kv_method != "full" and k.size and not k.min() > 0:
        raise MagicplanError(f"kv_budget must be > 0 for kv_method {setup.kv_method}")
    if is_alpha:
        return b, s, g, k, check_acceptance(rate)
    om = check_positive("accepted_per_step", rate, integer=False)
    if np.any(om < 1) or np.any(om > g + 1):
        raise MagicplanError(f"accepted_per_step must lie in [1, gamma + 1]; got {shown(rate)}")
    return b, s, g, k, om


def _estimate_block(
    setup: Setup,
    b: Array,
    s: Array,
    g: Array,
    k: Array,
    rate: Array,
    is_alpha: bool,
    wanted: tuple[str, ...],
) -> dict[str, Array]:
    """`estimate_arrays` on validated axes that broadcast together; `rate` is α when `is_alpha`,
    else Ω (per block: α → Ω stays in cache)."""
    rf = setup.roofline
    omega = expected_tokens(g, rate) if is_alpha else rate
    want = set(wanted)
    out: dict[str, Array | float] = {"accepted_per_step": omega}
    if want & (STEP_COLUMNS - {"accepted_per_step"}):  # Ω alone needs no step time
        ar = autoregressive_time(setup.target, rf, setup.num_gpus, b, s)
        ver = verify_time(setup.target, rf, setup.num_gpus, b, s, g)
        drf = setup.draft_roofline
        dr = draft_time(setup.draft_model, drf, setup.draft_n, b, s, setup.kv_method, k, g)
        t_round = round_time(dr.total_s, ver.total_s, g, rf.round_overhead_s)
        t_tok = spec_time_per_token(t_round, omega)
        out |= {
            "t_autoregressive_ms": ar.total_s / MS,
            "t_draft_ms": dr.total_s / MS,
            "t_verify_ms": ver.total_s / MS,
            "t_spec_per_token_ms": t_tok / MS,
            "speedup": ar.total_s / t_tok,
            "throughput_tokens_per_s": throughput_tokens_per_s(b, t_tok),
            "autoregressive_throughput_tokens_per_s": throughput_tokens_per_s(b, ar.total_s),
        }
        for step, st in zip(STEPS, (ar, dr, ver), strict=True):
            keys = {cls: f"breakdown.{step}.{cls}_ms" for cls in BREAKDOWN_CLASSES}
            if want.isdisjoint(keys.values()):
                continue  # not asked for: not worked out
            # Each class on the axes it depends on; the output broadcasts it (memory-free).
            out |= {
                keys[cls]: np.asarray(v) / MS for cls, v in st.parts.items() if keys[cls] in want
            }
    if "t_prefill_ms" in want:
        out["t_prefill_ms"] = prefill_time(setup.target, rf, setup.num_gpus, b, s).total_s / MS
    if "t_snapkv_select_ms" in want:
        out["t_snapkv_select_ms"] = (
            snapkv_select_time(setup.target, rf, setup.num_gpus, b, s) / MS
            if setup.kv_method == "snapkv"
            else 0.0
        )
    if want & set(MEMORY_COLUMNS):
        out |= _memory(setup, b, s, g, k, want)
    shape = np.broadcast_shapes(*(np.shape(x) for x in (b, s, g, k, omega)))
    return {key: _shaped(out[key], shape) for key in wanted}


def _shaped(value: Array | float, shape: tuple[int, ...]) -> Array:
    """`value` over the whole block: itself when it already has the shape, else a broadcast
    (read-only, memory-free) view."""
    v = np.asarray(value)
    return v if v.shape == shape else np.broadcast_to(v, shape)


def _memory(
    setup: Setup, b: Array, s: Array, g: Array, k: Array, want: set[str]
) -> dict[str, Array | float]:
    """Memory per GPU by part, whether it fits, and the largest batch with and without SD."""
    t, n = setup.target, setup.num_gpus
    cap = usable_bytes(setup.hardware.memory_bytes, setup.memory_utilization)
    kw: dict[str, Any] = dict(
        draft=setup.draft, draft_num_gpus=setup.draft_n, kv_method=setup.kv_method, kv_budget=k
    )
    fixed, per_seq = memory_terms(t, n, s, g, **kw)
    total = total_bytes(fixed, per_seq, b)
    out: dict[str, Array | float] = {
        "memory_per_gpu_gb": total / GB,
        "fits_in_memory": np.asarray(total <= cap),
        "memory.weights_gb": fixed["weights"] / GB,
        "memory.draft_weights_gb": fixed["draft_weights"] / GB,
    }
    for part in ("kv", "draft_kv", "activations"):
        if f"memory.{part}_gb" in want:
            out[f"memory.{part}_gb"] = b * per_seq[part] / GB
    if "max_batch" in want:
        ar_fixed, ar_seq = memory_terms(t, n, s, g, speculative=False)
        out["max_batch"] = max_batch(cap, sum(ar_fixed.values()), sum(ar_seq.values(), 0.0))
    if "max_batch_with_sd" in want:
        out["max_batch_with_sd"] = max_batch(cap, sum(fixed.values()), sum(per_seq.values(), 0.0))
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{'breakdown.verify.kv_ms': x} → {'breakdown': {'verify': {'kv_ms': x}}}."""
    out: dict[str, Any] = {}
    for key, val in flat.items():
        node = out
        *path, leaf = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = val
    return out


def to_python(value: Any) -> Any:
    """numpy scalars and 0-d arrays → float/bool/int for JSON."""
    arr = np.asarray(value)
    if arr.dtype == bool:
        return bool(arr)
    f = float(arr)
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return float(f"{f:.9g}")  # significant digits: a 1e-7 speedup must not print as 0


def estimate(
    hardware: HardwareSpec,
    num_gpus: int,
    target: ModelSpec,
    batch: int,
    context: int,
    gamma: int = 2,
    draft: ModelSpec | None = None,
    kv_method: str = "streamingllm",
    kv_budget: int = 512,
    acceptance: float | None = None,
    accepted_per_step: float | None = None,
    draft_num_gpus: int | None = None,
    mode: Mode = "calibrated",
    calibration: Calibration | None = None,
    engine: EngineSpec | None = None,
) -> dict[str, Any]:
    """One scenario → a JSON-ready dict (the `magicplan estimate --json` object); `engine`
    (None: the hardware's own calibration, else the default engine) names how it is served."""
    setup = Setup(
        hardware, num_gpus, target, draft, kv_method, draft_num_gpus, mode, calibration,
        engine=engine,
    )  # fmt: skip
    flat = estimate_arrays(setup, batch, context, gamma, kv_budget, acceptance, accepted_per_step)
    out = nest({key: to_python(v) for key, v in flat.items()})
    notes = workload_warnings(hardware, num_gpus, target, context)
    if kv_method != "full" and kv_budget >= context:
        notes.append(
            f"kv_budget {kv_budget} >= context {context}: the draft keeps the whole context"
        )
    if not out["fits_in_memory"]:
        notes.append(f"does not fit: {out['memory_per_gpu_gb']:.1f} GB per GPU needed")
    header = {
        "hardware": hardware.id,
        "engine": setup.engine_id,
        "num_gpus": num_gpus,
        "target": target.id,
        "draft_model": draft.id if draft else "self",
        "kv_method": kv_method,
        "kv_budget": 0 if kv_method == "full" else kv_budget,  # a full-KV draft has no budget
        "draft_num_gpus": setup.draft_n,
        "batch": batch,
        "context": context,
        "gamma": gamma,
        "mode": mode,
        "bottleneck": bottleneck(out["breakdown"]["autoregressive"]),
    }
    return header | out | {"notes": notes}


def bottleneck(breakdown_ms: dict[str, float]) -> str:
    """The class that takes the largest share of a step ('kv', 'weights', 'compute', ...)."""
    return max(breakdown_ms, key=lambda k: breakdown_ms[k]).removesuffix("_ms")
