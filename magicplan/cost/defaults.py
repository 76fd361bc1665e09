"""The calibration of one prediction: hardware × engine, composed in one place.

Four layers, each setting some of the parameters of `specs.calibration.Calibration`, the later
winning:
1. the hardware's achieved rates (its `achieved` block: bandwidth fraction, GEMM FLOP/s curve),
   or for a part without measurements their transferable default (below);
2. the engine's parameters (its latencies, attention kernel, all-reduce, sampler, weight-only
   kernels; `engine_profiles/*.yaml`);
3. the engine's calibration on this hardware, when it was measured there;
4. a calibration carried by the hardware profile itself (`magicplan calibrate` writes one)
   for this engine.
A hardware profile that carries a calibration is used as it is when no engine is named.

Default achieved rates for hardware without an `achieved` block: efficiencies are ratios and
transfer as they are, so such a part gets the geometric mean of the parts that have one (each
fitted to cited kernel measurements), and the arithmetic mean of their GEMM curve shape. When
the part's streaming bandwidth was measured (`stream_bandwidth_tb_s`), its memory efficiency is
that measured fraction of peak times what decode GEMMs reach of a stream on the fitted parts
(their η_m / stream fraction, geometric mean): a part whose memory streams closer to its peak
reads weights closer to it too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from magicplan.specs.calibration import Calibration, Provenance, set_values
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec

RATIOS = ("memory_efficiency", "compute_efficiency")
SHAPES = ("ridge_overlap",)


@lru_cache(maxsize=1)
def _measured_achieved() -> tuple[tuple[str, dict[str, float], float | None], ...]:
    from magicplan.specs.registry import list_hardware

    return tuple(
        (hw.id, hw.achieved.model_dump(include={*RATIOS, *SHAPES}), hw.stream_fraction)
        for hw in list_hardware()
        if hw.achieved is not None
    )


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def achieved_rates(hw: HardwareSpec) -> tuple[dict[str, float], str]:
    """The hardware's achieved rates and where they come from (its own, else the default)."""
    if hw.achieved is not None:
        return hw.achieved.model_dump(include={*RATIOS, *SHAPES}), hw.achieved.source
    measured = _measured_achieved()
    if not measured:
        raise ValueError("no shipped hardware profile has an achieved block")
    values = {k: _geomean([v[k] for _, v, _ in measured]) for k in RATIOS}
    values |= {k: float(np.mean([v[k] for _, v, _ in measured])) for k in SHAPES}
    ids = " and ".join(i for i, _, _ in measured)
    source = f"default achieved rates for unmeasured hardware: the mean of {ids}"
    ratios = [v["memory_efficiency"] / f for _, v, f in measured if f]
    if hw.stream_fraction is not None and ratios:
        values["memory_efficiency"] = min(hw.stream_fraction * _geomean(ratios), 1.0)
        source += (
            f"; memory efficiency = its measured stream fraction {hw.stream_fraction:.3f} × "
            f"{_geomean(ratios):.3f} (decode GEMMs / stream on {ids})"
        )
    return values, source


def default_calibration(hw: HardwareSpec) -> Calibration:
    """`hw` under the default engine (`specs.registry.DEFAULT_ENGINE`)."""
    return calibration_for(hw, None)


def calibration_for(hw: HardwareSpec, engine: EngineSpec | None = None) -> Calibration:
    """The calibration of `hw` × `engine` (None: the hardware's own calibration if it carries
    one, else the default engine), composed as the module docstring says."""
    if engine is None:
        if hw.calibration is not None:
            return hw.calibration
        from magicplan.specs.registry import load_engine

        engine = load_engine()
    return _compose(hw, engine)


def _compose(hw: HardwareSpec, engine: EngineSpec) -> Calibration:
    rates, rates_source = achieved_rates(hw)
    values: dict[str, Any] = rates | set_values(engine.parameters)
    sources = [f"{hw.id}: {rates_source}", f"engine {engine.id}: engine_profiles/{engine.id}"]
    provenance = engine_provenance(engine)
    measured = engine.calibration_on(hw.id)
    if measured is not None:
        values |= set_values(measured.values)
        provenance = measured.provenance
        sources.append(f"{engine.id} on {hw.id}: {measured.provenance.source}")
    own = hw.calibration
    if own is not None and own.engine == engine.id:
        values |= own.model_dump(exclude={"engine", "provenance"}, exclude_none=True)
        provenance = own.provenance
    if provenance is None:
        provenance = Provenance(method="default", source="; ".join(sources))
    return Calibration(engine=engine.id, **values, provenance=provenance)


def engine_provenance(engine: EngineSpec) -> Provenance | None:
    """How the engine's own parameters were fitted, and how well (when its profile says)."""
    return engine.provenance
