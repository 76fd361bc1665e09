"""Calibration for hardware that has none of its own: a principled default that transfers.

It is derived at run time from the shipped profiles that *were* fitted to measurements (the
anchors, MagicDec's step tables on 8×A100-80GB and 8×H100), so it carries no number of its own:
- efficiencies (memory, compute, link) are ratios and transfer as they are: their geometric mean;
- fixed latencies (per step, layer, token and layer, all-reduce, round) are small-kernel and
  synchronisation costs that shrink on faster parts. Across the two anchors they scale with
  memory bandwidth (latency × bandwidth is within ±10 % of its mean, while raw latencies differ
  2×), so each anchor's latency is turned into bytes-at-bandwidth, averaged, and divided by the
  target hardware's bandwidth.
The calibrated engine is MagicDec's gpt-fast-style torch.compile engine; another engine should be
calibrated with `magicplan fit` or `magicplan calibrate`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance

ANCHORS = ("a100-80gb-sxm", "h100-sxm")
RATIOS = ("memory_efficiency", "compute_efficiency", "link_efficiency")
LATENCIES = (
    "step_overhead_us",
    "layer_overhead_us",
    "token_layer_overhead_ns",
    "allreduce_latency_us",
    "round_overhead_us",
)


@lru_cache(maxsize=1)
def _anchors() -> tuple[tuple[HardwareSpec, Calibration], ...]:
    from magicplan.specs.registry import load_hardware

    out = []
    for anchor in ANCHORS:
        hw = load_hardware(anchor)
        if hw.calibration is None:
            raise ValueError(f"anchor profile '{anchor}' has no calibration block")
        out.append((hw, hw.calibration))
    return tuple(out)


def default_calibration(hw: HardwareSpec) -> Calibration:
    """The transferable default for `hw` (see the module docstring)."""
    anchors = _anchors()
    ratios = {
        k: float(np.exp(np.mean([np.log(getattr(c, k)) for _, c in anchors]))) for k in RATIOS
    }
    bw = hw.memory_bandwidth_bytes_per_s
    latencies = {
        k: float(np.mean([getattr(c, k) * a.memory_bandwidth_bytes_per_s for a, c in anchors]) / bw)
        for k in LATENCIES
    }
    source = (
        f"default for unmeasured hardware, derived from the fitted profiles "
        f"{' and '.join(ANCHORS)}: efficiencies their geometric mean, latencies scaled by "
        f"memory bandwidth (magicplan.cost.defaults)"
    )
    return Calibration(
        engine=anchors[0][1].engine,
        overlap=anchors[0][1].overlap,
        **ratios,
        **latencies,
        provenance=Provenance(method="default", source=source),
    )


def calibration_for(hw: HardwareSpec) -> Calibration:
    """The profile's own calibration, else the transferable default."""
    return hw.calibration or default_calibration(hw)
