"""Calibration for hardware that has none of its own: a principled default that transfers.

Efficiencies are ratios, so they transfer across parts; they default to what the two measured
GPUs achieved (MagicDec's step tables, fitted by `magicplan fit`: A100 η_m 0.82, H100 0.92 →
0.85; compute, unconstrained by decode tables, to 0.75, near the measured maximum achievable
matmul FLOP/s of A100 and H100, stas00/ml-engineering "MAMF"). Fixed latencies are software
costs of the engine (launches, synchronisation) and are taken from the same fits, scaled by
nothing: a different engine must be calibrated (`magicplan fit` / `calibrate`).
"""

from __future__ import annotations

from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance

DEFAULT_SOURCE = (
    "magicplan default for unmeasured hardware: efficiencies and latencies from the fits of "
    "a100-80gb-sxm and h100-sxm to MagicDec's measured step tables (gpt-fast-style torch.compile "
    "engine, see docs/model.md); compute efficiency from measured achievable matmul FLOP/s "
    "(stas00/ml-engineering compute/accelerator MAMF)"
)

DEFAULT_CALIBRATION = Calibration(
    engine="gpt-fast-style torch.compile (MagicDec)",
    overlap="max",
    memory_efficiency=0.85,
    compute_efficiency=0.75,
    step_overhead_us=100.0,
    layer_overhead_us=60.0,
    token_layer_overhead_ns=200.0,
    allreduce_latency_us=20.0,
    link_efficiency=0.45,
    round_overhead_us=800.0,
    provenance=Provenance(method="default", source=DEFAULT_SOURCE),
)


def calibration_for(hw: HardwareSpec) -> Calibration:
    """The profile's own calibration, else the transferable default."""
    return hw.calibration or DEFAULT_CALIBRATION
