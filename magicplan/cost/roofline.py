"""Where a step's time goes: operator FLOPs and bytes → seconds on one hardware profile.

Knows hardware, not models. Each operator takes `max(compute, memory)` (overlap "max") or their
sum (overlap "sum"), with achieved efficiencies; fixed latencies and all-reduces come on top.
The "ideal" mode uses datasheet peaks with no overheads and no communication (MagicDec's
theoretical breakdown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array, OpCost
from magicplan.errors import MagicplanError
from magicplan.specs.hardware import Calibration, HardwareSpec
from magicplan.units import NS, US

BREAKDOWN_CLASSES = ("weights", "kv", "activations", "compute", "communication", "overhead")


@dataclass(frozen=True)
class Roofline:
    """Achieved rates and fixed latencies (SI units) for one (hardware, engine) pair."""

    hardware_id: str
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    link_bytes_per_s: float
    memory_efficiency: float
    compute_efficiency: float
    link_efficiency: float
    step_overhead_s: float
    layer_overhead_s: float
    token_layer_overhead_s: float
    allreduce_latency_s: float
    round_overhead_s: float
    overlap: str
    ideal: bool

    @property
    def achieved_bytes_per_s(self) -> float:
        """Memory bandwidth the engine reaches: η_m · BW."""
        return self.bandwidth_bytes_per_s * self.memory_efficiency

    @property
    def achieved_flops_per_s(self) -> float:
        """FLOP/s the engine reaches: η_c · P."""
        return self.peak_flops_per_s * self.compute_efficiency


def make_roofline(
    hw: HardwareSpec, cal: Calibration, dtype: str = "bfloat16", ideal: bool = False
) -> Roofline:
    """Roofline for `hw` computing in `dtype`; `ideal` drops efficiencies and overheads."""
    try:
        link = hw.link_bandwidth_bytes_per_s
    except ValueError:
        link = 0.0
    if ideal:
        return Roofline(
            hw.id,
            hw.peak_flops_per_s(dtype),
            hw.memory_bandwidth_bytes_per_s,
            link,
            1.0,
            1.0,
            1.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            "max",
            True,
        )
    return Roofline(
        hw.id,
        hw.peak_flops_per_s(dtype),
        hw.memory_bandwidth_bytes_per_s,
        link,
        cal.memory_efficiency,
        cal.compute_efficiency,
        cal.link_efficiency,
        cal.step_overhead_us * US,
        cal.layer_overhead_us * US,
        cal.token_layer_overhead_ns * NS,
        cal.allreduce_latency_us * US,
        cal.round_overhead_us * US,
        cal.overlap,
        False,
    )


def ops_time(ops: list[OpCost], rf: Roofline) -> dict[str, Array | float]:
    """Time of the operators, split by class: bytes classes when memory-bound, else compute."""
    out: dict[str, Array | float] = dict.fromkeys(("weights", "kv", "activations", "compute"), 0.0)
    bw, fl = rf.achieved_bytes_per_s, rf.achieved_flops_per_s
    for op in ops:
        parts = {"weights": op.weight_bytes, "kv": op.kv_bytes, "activations": op.act_bytes}
        parts = {k: v for k, v in parts.items() if np.ndim(v) or v}  # drop absent (0.0) parts
        t_cmp = op.flops * (op.count / fl)
        per_byte: Array | float = op.count / bw
        if rf.overlap == "max":  # a memory-bound op's time Σ bytes / bw splits by byte class
            mem_bound = np.asarray(sum(parts.values(), 0.0) * (op.count / bw) >= t_cmp)
            if not np.all(mem_bound):  # some or all rows compute-bound (no np.where: faster)
                per_byte = mem_bound * per_byte
                t_cmp = t_cmp * ~mem_bound
            else:
                t_cmp = 0.0
        for k, v in parts.items():
            out[k] = out[k] + v * per_byte
        out["compute"] = out["compute"] + t_cmp
    return out


def ops_total(ops: list[OpCost], rf: Roofline) -> Array | float:
    """Seconds of the operators: Σ count · max(bytes / bw, FLOPs / fl) ("max"), or the sum."""
    bw, fl = rf.achieved_bytes_per_s, rf.achieved_flops_per_s
    total: Array | float = 0.0
    for op in ops:
        t_mem = (op.weight_bytes + op.kv_bytes + op.act_bytes) * (op.count / bw)
        t_cmp = op.flops * (op.count / fl)
        total = total + (np.maximum(t_mem, t_cmp) if rf.overlap == "max" else t_mem + t_cmp)
    return total


def _check_link(rf: Roofline) -> None:
    if rf.link_bytes_per_s <= 0:
        raise MagicplanError(
            f"hardware '{rf.hardware_id}' has no link bandwidth for num_gpus > 1: use num_gpus 1"
        )


def allreduce_time(bytes_: npt.ArrayLike, num_gpus: int, rf: Roofline) -> Array:
    """Ring all-reduce of `bytes_` over `num_gpus`: latency + 2(N-1)/N · bytes / achieved link."""
    b = np.asarray(bytes_, dtype=np.float64)
    if num_gpus <= 1 or rf.ideal:
        return 0.0 * b
    _check_link(rf)
    traffic = 2.0 * (num_gpus - 1) / num_gpus * b
    return rf.allreduce_latency_s + traffic / (rf.link_bytes_per_s * rf.link_efficiency)


def gather_time(bytes_: npt.ArrayLike, num_gpus: int, rf: Roofline) -> Array:
    """Gather of `bytes_` (the full tensor) from `num_gpus` shards: latency + (N-1)/N · bytes."""
    b = np.asarray(bytes_, dtype=np.float64)
    if num_gpus <= 1 or rf.ideal:
        return 0.0 * b
    _check_link(rf)
    traffic = (num_gpus - 1) / num_gpus * b
    return rf.allreduce_latency_s + traffic / (rf.link_bytes_per_s * rf.link_efficiency)
