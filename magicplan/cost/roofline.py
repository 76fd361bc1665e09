"""Where a step's time goes: operator FLOPs and bytes → seconds on one hardware × engine.

Knows rates, not models. Each operator moves its bytes at the achieved bandwidth and does its
FLOPs at the achieved FLOP/s (Williams, Waterman & Patterson, *Roofline*, CACM 2009):

    t_memory  = weights / (η_m·BW·η_q) + activations / (η_m·BW) + KV / (η_kv·BW)
    t_compute = FLOPs / (η_c·P)
    t         = max(t_memory, t_compute, κ·(t_memory + t_compute))     overlap "max"
              = t_memory + t_compute                                    overlap "sum"

η_q is the weight-only integer kernel's share (quantized weights only); η_kv is the engine's
decode-attention bandwidth fraction for attention's KV reads (their per-sequence term adds
`attention_half_length_tokens` keys per sequence); κ (`ridge_overlap`) models the band around
the ridge point where both limits bind (κ ≤ ½ is the plain max): there a GEMM reaches less than
either roof, so its achieved FLOP/s rises with the step's tokens as a curve, not a constant.
Fixed latencies and all-reduces come on top (`cost/steps.py`). The "ideal" mode uses
datasheet peaks with no overheads and no communication (MagicDec's theoretical breakdown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array, OpCost, Part
from magicplan.errors import MagicplanError
from magicplan.specs.hardware import Calibration, HardwareSpec
from magicplan.units import NS, US

BREAKDOWN_CLASSES = ("weights", "kv", "activations", "compute", "communication", "overhead")
MEMORY_CLASSES = ("weights", "kv", "activations")


@dataclass(frozen=True, kw_only=True)
class Roofline:
    """Achieved rates and fixed latencies (SI units) for one hardware × engine × dtype."""

    hardware_id: str
    engine_id: str = "generic"
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    link_bytes_per_s: float
    memory_efficiency: float
    compute_efficiency: float
    link_efficiency: float
    ridge_overlap: float = 0.0
    attention_efficiency: float | None = None  # None: memory_efficiency
    attention_half_length_tokens: float = 0.0
    attention_floor_s: float = 0.0
    weight_kernel_efficiency: float = 1.0  # of the model's weight-only integer kernel
    step_overhead_s: float = 0.0
    layer_overhead_s: float = 0.0
    token_layer_overhead_s: float = 0.0
    sampling_s: float = 0.0
    sampling_s_per_logit: float = 0.0
    allreduce_latency_s: float = 0.0
    allreduce_latency_per_doubling_s: float = 0.0
    round_overhead_s: float = 0.0
    verify_token_layer_overhead_s: float = 0.0  # per layer, per verified token beyond one
    ngram_lookup_s: float = 0.0  # host time of one n-gram (prompt) lookup per round
    host_overlap: float = 0.0  # share of min(device, host) time the engine hides
    overlap: Literal["max", "sum"] = "max"
    ideal: bool = False

    @property
    def achieved_bytes_per_s(self) -> float:
        """Memory bandwidth the engine reaches: η_m · BW."""
        return self.bandwidth_bytes_per_s * self.memory_efficiency

    @property
    def achieved_flops_per_s(self) -> float:
        """FLOP/s large GEMMs reach: η_c · P."""
        return self.peak_flops_per_s * self.compute_efficiency

    @property
    def attention_bytes_per_s(self) -> float:
        """Bandwidth decode attention reaches on the KV cache: η_kv · BW."""
        eta = self.attention_efficiency or self.memory_efficiency
        return self.bandwidth_bytes_per_s * eta


def make_roofline(
    hw: HardwareSpec,
    cal: Calibration,
    dtype: str = "bfloat16",
    ideal: bool = False,
    weight_format: str | None = None,
) -> Roofline:
    """Roofline for `hw` computing in `dtype` (weights in `weight_format`: int8, int4 or None);
    `ideal` drops efficiencies and overheads."""
    try:
        link = hw.link_bandwidth_bytes_per_s
    except ValueError:
        link = 0.0
    peaks = dict(
        hardware_id=hw.id,
        engine_id=cal.engine,
        peak_flops_per_s=hw.peak_flops_per_s(dtype),
        bandwidth_bytes_per_s=hw.memory_bandwidth_bytes_per_s,
        link_bytes_per_s=link,
    )
    if ideal:
        return Roofline(
            **peaks,  # type: ignore[arg-type]
            memory_efficiency=1.0,
            compute_efficiency=1.0,
            link_efficiency=1.0,
            ideal=True,
        )
    kernel = {"int8": cal.int8_weight_efficiency, "int4": cal.int4_weight_efficiency}
    return Roofline(
        **peaks,  # type: ignore[arg-type]
        memory_efficiency=cal.memory_efficiency,
        compute_efficiency=cal.compute_efficiency,
        link_efficiency=cal.link_efficiency,
        ridge_overlap=cal.ridge_overlap,
        attention_efficiency=cal.attention_efficiency,
        attention_half_length_tokens=cal.attention_half_length_tokens,
        attention_floor_s=cal.attention_floor_us * US,
        weight_kernel_efficiency=kernel.get(weight_format or "", 1.0),
        step_overhead_s=cal.step_overhead_us * US,
        layer_overhead_s=cal.layer_overhead_us * US,
        token_layer_overhead_s=cal.token_layer_overhead_ns * NS,
        sampling_s=cal.sampling_us * US,
        sampling_s_per_logit=cal.sampling_ns_per_logit * NS,
        allreduce_latency_s=cal.allreduce_latency_us * US,
        allreduce_latency_per_doubling_s=cal.allreduce_latency_per_doubling_us * US,
        round_overhead_s=cal.round_overhead_us * US,
        verify_token_layer_overhead_s=cal.verify_token_layer_overhead_ns * NS,
        ngram_lookup_s=cal.ngram_lookup_us * US,
        host_overlap=cal.host_overlap,
        overlap=cal.overlap,
    )


def op_seconds(op: OpCost, rf: Roofline) -> tuple[dict[str, Part], Part]:
    """One use of `op`, before the overlap rule: seconds per memory class (weights, kv,
    activations; absent classes left out) and seconds of compute."""
    bw = rf.achieved_bytes_per_s
    memory: dict[str, Part] = {}
    if np.ndim(op.weight_bytes) or op.weight_bytes:
        memory["weights"] = op.weight_bytes / (
            bw * rf.weight_kernel_efficiency if op.quantized else bw
        )
    if op.kind == "attention":
        kv = op.kv_bytes + rf.attention_half_length_tokens * op.kv_bytes_per_key
        memory["kv"] = kv / rf.attention_bytes_per_s
    elif np.ndim(op.kv_bytes) or op.kv_bytes:
        memory["kv"] = op.kv_bytes / bw
    if np.ndim(op.act_bytes) or op.act_bytes:
        memory["activations"] = op.act_bytes / bw
    return memory, op.flops / rf.achieved_flops_per_s


def op_time(op: OpCost, rf: Roofline) -> dict[str, Part]:
    """Seconds of all `op.count` uses, by class: the memory classes when memory-bound, compute
    when compute-bound, every class × κ in the band where both bind; both under "sum"."""
    memory, compute = op_seconds(op, rf)
    n = op.count
    if rf.overlap == "sum":
        return {k: v * n for k, v in memory.items()} | {"compute": compute * n}
    t_mem: Part = sum(memory.values(), 0.0)
    kappa = rf.ridge_overlap
    blend = kappa * (t_mem + compute) if kappa > 0.5 else 0.0
    mem_bound = np.asarray((t_mem >= compute) & (t_mem >= blend))
    cmp_bound = ~mem_bound & np.asarray(compute >= blend)
    mixed = ~mem_bound & ~cmp_bound
    scale_mem = n * (mem_bound + kappa * mixed)
    scale_cmp = n * (cmp_bound + kappa * mixed)
    return {k: v * scale_mem for k, v in memory.items()} | {"compute": compute * scale_cmp}


def op_total(op: OpCost, rf: Roofline) -> Part:
    """Seconds of all `op.count` uses: count · max(t_memory, t_compute, κ·(t_memory +
    t_compute)), or count · (t_memory + t_compute) under "sum"."""
    memory, compute = op_seconds(op, rf)
    t_mem: Part = sum(memory.values(), 0.0)
    if rf.overlap == "sum":
        return (t_mem + compute) * op.count
    t = np.maximum(t_mem, compute)
    if rf.ridge_overlap > 0.5:
        t = np.maximum(t, rf.ridge_overlap * (t_mem + compute))
    return t * op.count


def ops_time(ops: list[OpCost], rf: Roofline) -> dict[str, Array | float]:
    """Seconds of the operators, by class (weights, kv, activations, compute)."""
    out: dict[str, Array | float] = dict.fromkeys((*MEMORY_CLASSES, "compute"), 0.0)
    for op in ops:
        for k, v in op_time(op, rf).items():
            out[k] = out[k] + v
    return out


def ops_total(ops: list[OpCost], rf: Roofline) -> Array | float:
    """Seconds of the operators: Σ op_total."""
    return sum((op_total(op, rf) for op in ops), 0.0)


def _check_link(rf: Roofline) -> None:
    if rf.link_bytes_per_s <= 0:
        raise MagicplanError(
            f"hardware '{rf.hardware_id}' has no link bandwidth for num_gpus > 1: use num_gpus 1"
        )


def collective_latency_s(num_gpus: int, rf: Roofline) -> float:
    """Fixed latency of one collective over `num_gpus`: λ + λ_doubling · log2(N / 2)."""
    doublings = max(np.log2(num_gpus) - 1.0, 0.0)
    return float(rf.allreduce_latency_s + rf.allreduce_latency_per_doubling_s * doublings)


def allreduce_time(bytes_: npt.ArrayLike, num_gpus: int, rf: Roofline) -> Array:
    """Ring all-reduce of `bytes_` over `num_gpus` (Patarasuk & Yuan 2009):
    latency + 2(N-1)/N · bytes / achieved link."""
    b = np.asarray(bytes_, dtype=np.float64)
    if num_gpus <= 1 or rf.ideal:
        return 0.0 * b
    _check_link(rf)
    traffic = 2.0 * (num_gpus - 1) / num_gpus * b
    return collective_latency_s(num_gpus, rf) + traffic / (rf.link_bytes_per_s * rf.link_efficiency)


def gather_time(bytes_: npt.ArrayLike, num_gpus: int, rf: Roofline) -> Array:
    """Gather of `bytes_` (the full tensor) from `num_gpus` shards: latency + (N-1)/N · bytes."""
    b = np.asarray(bytes_, dtype=np.float64)
    if num_gpus <= 1 or rf.ideal:
        return 0.0 * b
    _check_link(rf)
    traffic = (num_gpus - 1) / num_gpus * b
    return collective_latency_s(num_gpus, rf) + traffic / (rf.link_bytes_per_s * rf.link_efficiency)
