"""`estimate`: step times, speculative speedup, throughput and memory for one strategy, vectorized
over batch, context, γ, budget and acceptance (numpy arrays that broadcast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from magicplan.cost.defaults import calibration_for
from magicplan.cost.memory import (
    DEFAULT_MEMORY_UTILIZATION,
    max_batch,
    memory_per_gpu,
    usable_bytes,
)
from magicplan.cost.operators import Array, shard
from magicplan.cost.roofline import Roofline, make_roofline
from magicplan.cost.speculative import (
    check_acceptance,
    expected_tokens,
    round_time,
    spec_time_per_token,
    throughput_tokens_per_s,
)
from magicplan.cost.steps import (
    autoregressive_time,
    check_method,
    draft_time,
    prefill_time,
    snapkv_select_time,
    verify_time,
)
from magicplan.errors import MagicplanError, shown
from magicplan.specs.hardware import Calibration, HardwareSpec
from magicplan.specs.model import ModelSpec

Mode = Literal["calibrated", "ideal"]
MS = 1e3  # milliseconds per second
GB = 1e9
MAX_INTEGER = 2.0**53  # largest integer float64 holds exactly
# Rows per block when estimating many independent scenarios: numpy's temporaries then stay in
# cache (about 1.5x the throughput of one pass over 10^6 rows).
CHUNK = 1 << 14


@dataclass(frozen=True)
class Setup:
    """The categorical part of a scenario: where it runs and which draft it uses."""

    hardware: HardwareSpec
    num_gpus: int
    target: ModelSpec
    draft: ModelSpec | None = None  # None = self-speculation
    kv_method: str = "streamingllm"
    draft_num_gpus: int | None = None
    mode: Mode = "calibrated"
    calibration: Calibration | None = None
    memory_utilization: float = DEFAULT_MEMORY_UTILIZATION

    def __post_init__(self) -> None:
        check_method(self.kv_method)
        shard(self.target, self.num_gpus)
        hw = self.hardware
        if self.num_gpus > 1 and hw.scaleup_link_gb_s is None and hw.host_link_gb_s is None:
            raise MagicplanError(
                f"num_gpus={self.num_gpus} needs a link between devices, but hardware '{hw.id}' "
                "has no scaleup_link_gb_s or host_link_gb_s: use num_gpus 1"
            )
        if self.draft_num_gpus is not None and self.draft_num_gpus < 1:
            raise MagicplanError(
                f"draft_num_gpus must be a positive integer; got {self.draft_num_gpus}"
            )
        if self.draft is not None:
            check_draft_vocab(self.target, self.draft)
            if self.draft_n > self.num_gpus:
                raise MagicplanError(
                    f"draft_num_gpus={self.draft_n} must not exceed num_gpus={self.num_gpus}"
                )
            shard(self.draft, self.draft_n)
        if not 0 < self.memory_utilization <= 1:
            raise MagicplanError("memory_utilization must be in (0, 1]")

    @property
    def draft_model(self) -> ModelSpec:
        """The model that drafts: the small draft, or the target itself."""
        return self.draft or self.target

    @property
    def draft_n(self) -> int:
        """Tensor-parallel degree of the draft (the target's unless given)."""
        return self.draft_num_gpus or self.num_gpus

    @property
    def roofline(self) -> Roofline:
        """Rates and latencies of this hardware (ideal mode: datasheet peaks, no overheads)."""
        cal = self.calibration or calibration_for(self.hardware)
        return make_roofline(self.hardware, cal, self.target.dtype, ideal=self.mode == "ideal")


def check_draft_vocab(target: ModelSpec, draft: ModelSpec) -> None:
    """A draft must share the target's tokenizer; a different vocab size is refused."""
    if draft.vocab_size != target.vocab_size:
        raise MagicplanError(
            f"draft '{draft.id}' has vocab {draft.vocab_size} but target '{target.id}' has "
            f"vocab {target.vocab_size}: a draft must share the target's tokenizer"
        )


def check_positive(
    name: str, value: npt.ArrayLike, integer: bool = True, allow_zero: bool = False
) -> Array:
    """`value` as a float array, or a MagicplanError naming `name` and what is allowed.

    Integers must stay below 2^53 (exact in float64), which also keeps every product of the
    workload axes far from overflow.
    """
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MagicplanError(f"{name} must be a number; got {shown(value)}") from exc
    bad = ~np.isfinite(v) | ((v < 0) if allow_zero else (v <= 0))
    if integer:
        bad |= (v != np.round(v)) | (v > MAX_INTEGER)
    if np.any(bad):
        kind = "integer" if integer else "number"
        lo = ">= 0" if allow_zero else "> 0"
        hi = " and at most 2^53" if integer else ""
        raise MagicplanError(f"{name} must be a finite {kind} {lo}{hi}; got {shown(value)}")
    return v


def estimate_arrays(
    setup: Setup,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike,
    kv_budget: npt.ArrayLike = 512,
    acceptance: npt.ArrayLike | None = None,
    accepted_per_step: npt.ArrayLike | None = None,
) -> dict[str, Array]:
    """Every figure of `estimate` as arrays in ms, GB, tokens/s (keys are the JSON contract)."""
    b = check_positive("batch", batch)
    s = check_positive("context", context)
    g = check_positive("gamma", gamma)
    k = check_positive("kv_budget", kv_budget, allow_zero=True)
    if setup.kv_method != "full" and np.any(k <= 0):
        raise MagicplanError(f"kv_budget must be > 0 for kv_method {setup.kv_method}")
    omega = _omega(g, acceptance, accepted_per_step)
    axes = (b, s, g, k, omega)
    n = max(x.size for x in axes)
    if n > CHUNK and all(x.shape in ((), (n,)) for x in axes):  # many independent rows
        blocks = [
            _estimate_block(setup, *(x if x.ndim == 0 else x[i : i + CHUNK] for x in axes))
            for i in range(0, n, CHUNK)
        ]
        return {key: np.concatenate([blk[key] for blk in blocks]) for key in blocks[0]}
    return _estimate_block(setup, *axes)


def _estimate_block(
    setup: Setup, b: Array, s: Array, g: Array, k: Array, omega: Array
) -> dict[str, Array]:
    """`estimate_arrays` on validated axes that broadcast together."""
    rf = setup.roofline
    ar = autoregressive_time(setup.target, rf, setup.num_gpus, b, s)
    ver = verify_time(setup.target, rf, setup.num_gpus, b, s, g)
    dr = draft_time(setup.draft_model, rf, setup.draft_n, b, s, setup.kv_method, k, g)
    t_round = round_time(dr.total_s, ver.total_s, g, rf.round_overhead_s)
    t_tok = spec_time_per_token(t_round, omega)
    out = {
        "t_autoregressive_ms": ar.total_s * MS,
        "t_draft_ms": dr.total_s * MS,
        "t_verify_ms": ver.total_s * MS,
        "accepted_per_step": omega,
        "t_spec_per_token_ms": t_tok * MS,
        "speedup": ar.total_s / t_tok,
        "throughput_tokens_per_s": throughput_tokens_per_s(b, t_tok),
        "autoregressive_throughput_tokens_per_s": throughput_tokens_per_s(b, ar.total_s),
        "t_prefill_ms": prefill_time(setup.target, rf, setup.num_gpus, b, s).total_s * MS,
        "t_snapkv_select_ms": (
            snapkv_select_time(setup.target, rf, setup.num_gpus, b, s) * MS
            if setup.kv_method == "snapkv"
            else 0.0 * s
        ),
    }
    out |= _memory(setup, b, s, g, k)
    for step, st in (("autoregressive", ar), ("draft", dr), ("verify", ver)):
        for cls, val in st.breakdown.items():
            out[f"breakdown.{step}.{cls}_ms"] = np.asarray(val) * MS
    shape = b * s * g * k * omega
    return {key: np.asarray(np.broadcast_arrays(v, shape)[0]) for key, v in out.items()}


def _omega(g: Array, acceptance: npt.ArrayLike | None, accepted: npt.ArrayLike | None) -> Array:
    if (acceptance is None) == (accepted is None):
        raise MagicplanError(
            "give exactly one of acceptance (α in [0, 1]) or accepted_per_step (Ω)"
        )
    if acceptance is not None:
        return expected_tokens(g, check_acceptance(acceptance))
    assert accepted is not None
    om = check_positive("accepted_per_step", accepted, integer=False)
    if np.any(om < 1) or np.any(om > g + 1):
        raise MagicplanError(f"accepted_per_step must lie in [1, gamma + 1]; got {shown(accepted)}")
    return om


def _memory(setup: Setup, b: Array, s: Array, g: Array, k: Array) -> dict[str, Array]:
    kw: dict[str, Any] = dict(
        draft=setup.draft, draft_num_gpus=setup.draft_n, kv_method=setup.kv_method, kv_budget=k
    )
    n, t = setup.num_gpus, setup.target
    sd = memory_per_gpu(t, n, b, s, g, **kw)
    cap = usable_bytes(setup.hardware.memory_bytes, setup.memory_utilization)
    ar0 = memory_per_gpu(t, n, 0.0 * b, s, g, speculative=False)["total"]
    ar1 = memory_per_gpu(t, n, 1.0 + 0.0 * b, s, g, speculative=False)["total"]
    sd0 = memory_per_gpu(t, n, 0.0 * b, s, g, **kw)["total"]
    sd1 = memory_per_gpu(t, n, 1.0 + 0.0 * b, s, g, **kw)["total"]
    out: dict[str, Array] = {
        "memory_per_gpu_gb": sd["total"] / GB,
        "fits_in_memory": np.asarray(sd["total"] <= cap),
        "max_batch": max_batch(cap, ar0, ar1 - ar0),
        "max_batch_with_sd": max_batch(cap, sd0, sd1 - sd0),
    }
    out |= {f"memory.{key}_gb": val / GB for key, val in sd.items() if key != "total"}
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
) -> dict[str, Any]:
    """One scenario → a JSON-ready dict (the `magicplan estimate --json` object)."""
    setup = Setup(hardware, num_gpus, target, draft, kv_method, draft_num_gpus, mode, calibration)
    flat = estimate_arrays(setup, batch, context, gamma, kv_budget, acceptance, accepted_per_step)
    out = nest({key: to_python(v) for key, v in flat.items()})
    notes = []
    if kv_method != "full" and kv_budget >= context:
        notes.append(
            f"kv_budget {kv_budget} >= context {context}: the draft keeps the whole context"
        )
    if not out["fits_in_memory"]:
        notes.append(f"does not fit: {out['memory_per_gpu_gb']:.1f} GB per GPU needed")
    header = {
        "hardware": hardware.id,
        "num_gpus": num_gpus,
        "target": target.id,
        "draft_model": draft.id if draft else "self",
        "kv_method": kv_method,
        "kv_budget": kv_budget,
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
