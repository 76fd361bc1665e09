"""Hardware × engine composition: each layer sets what it owns, the later layer wins."""

from __future__ import annotations

import pytest

from magicplan.cost.defaults import achieved_rates, calibration_for
from magicplan.specs import load_engine, load_hardware
from magicplan.specs.calibration import Provenance, Rates
from magicplan.specs.engine import EngineCalibration, EngineSpec, SpeculativeFeatures
from magicplan.specs.hardware import Achieved, Source
from tests.cost.conftest import make_cal, make_hw

SOURCE = Source(
    fields=["step_overhead_us", "layer_overhead_us", "allreduce_latency_us", "link_efficiency",
            "attention_efficiency"],
    citation="test values",
)  # fmt: skip


def make_engine(**kw: object) -> EngineSpec:
    base: dict[str, object] = dict(
        id="toy-engine",
        name="toy",
        cuda_graphs=True,
        attention_kernel="toy",
        allreduce="toy",
        parameters=Rates(
            step_overhead_us=100.0,
            layer_overhead_us=10.0,
            allreduce_latency_us=5.0,
            link_efficiency=0.5,
            attention_efficiency=0.6,
        ),
        speculative=SpeculativeFeatures(draft_kinds=["draft_model"], compressed_draft_kv=False),
        sources=[SOURCE],
    )
    base.update(kw)
    return EngineSpec(**base)  # type: ignore[arg-type]


ACHIEVED = Achieved(
    memory_efficiency=0.8, compute_efficiency=0.7, ridge_overlap=0.65, source="test values"
)


def test_layers_compose_hardware_then_engine_then_engine_on_hardware() -> None:
    hw = make_hw(achieved=ACHIEVED)
    measured = EngineCalibration(
        hardware="toy-gpu",
        values=Rates(layer_overhead_us=20.0, memory_efficiency=0.9),
        provenance=Provenance(method="fit", source="test rows"),
    )
    cal = calibration_for(hw, make_engine(calibrations=[measured]))
    assert cal.engine == "toy-engine"
    assert cal.compute_efficiency == 0.7  # the hardware's
    assert cal.step_overhead_us == 100.0 and cal.attention_efficiency == 0.6  # the engine's
    assert cal.layer_overhead_us == 20.0 and cal.memory_efficiency == 0.9  # measured there
    assert cal.provenance.source == "test rows"
    # On other hardware the engine-on-hardware values do not apply.
    other = calibration_for(make_hw(id="other-gpu", achieved=ACHIEVED), make_engine())
    assert other.layer_overhead_us == 10.0 and other.memory_efficiency == 0.8


def test_a_hardware_profiles_own_calibration() -> None:
    own = make_cal(engine="toy-engine", layer_overhead_us=33.0, memory_efficiency=0.5)
    hw = make_hw(achieved=ACHIEVED, calibration=own)
    # No engine named: the profile's calibration as it is (what `calibrate` writes).
    assert calibration_for(hw, None) == own
    # Its engine named: laid over the engine's values; another engine: not used.
    assert calibration_for(hw, make_engine()).layer_overhead_us == 33.0
    other = calibration_for(hw, make_engine(id="another"))
    assert other.layer_overhead_us == 10.0 and other.memory_efficiency == 0.8


def test_default_achieved_rates_from_a_measured_stream() -> None:
    # The shipped A100 and H100 rates relative to their measured stream fractions, times the
    # RTX 4090's measured stream fraction (0.9218 / 1.008 TB/s).
    a100, h100 = load_hardware("a100-80gb-sxm"), load_hardware("h100-sxm")
    ratios = [
        hw.achieved.memory_efficiency / hw.stream_fraction  # type: ignore[union-attr,operator]
        for hw in (a100, h100)
    ]
    expected = 0.9218 / 1.008 * (ratios[0] * ratios[1]) ** 0.5
    rates, source = achieved_rates(load_hardware("rtx-4090"))
    assert rates["memory_efficiency"] == pytest.approx(expected)
    assert "stream fraction" in source
    # A part with neither: the geometric mean of the measured parts.
    l4, _ = achieved_rates(load_hardware("l4"))
    assert l4["memory_efficiency"] == pytest.approx(
        (a100.achieved.memory_efficiency * h100.achieved.memory_efficiency) ** 0.5  # type: ignore[union-attr]
    )


def test_the_default_engine_is_vllm() -> None:
    assert load_engine().id == "vllm"
    assert calibration_for(load_hardware("h100-sxm")).engine == "vllm"


def test_the_engine_layer_wins_over_the_hardware_and_says_where_values_came_from() -> None:
    engine = make_engine(
        parameters=Rates(step_overhead_us=100.0, layer_overhead_us=10.0,
                         allreduce_latency_us=5.0, link_efficiency=0.5, memory_efficiency=0.55),
        sources=[Source(fields=[*SOURCE.fields, "memory_efficiency"], citation="test values")],
    )  # fmt: skip
    cal = calibration_for(make_hw(achieved=ACHIEVED), engine)
    assert cal.memory_efficiency == 0.55 and cal.compute_efficiency == 0.7
    # Neither the engine nor a measurement carries a provenance: both layers are named.
    assert cal.provenance.method == "default"
    assert "toy-gpu: test values" in cal.provenance.source
    assert "engine toy-engine" in cal.provenance.source


def test_magicdecs_fitted_calibrations_belong_to_magicdec_only() -> None:
    # Issue 11: the A100/H100 fits of MagicDec's testbed are magicdec × hardware calibrations;
    # hardware profiles keep hardware facts, and another engine on those GPUs does not see them.
    from magicplan.specs import list_hardware

    assert all(hw.calibration is None for hw in list_hardware())
    magicdec, vllm = load_engine("magicdec"), load_engine("vllm")
    for gpu in ("a100-80gb-sxm", "h100-sxm"):
        hw = load_hardware(gpu)
        fitted = magicdec.calibration_on(gpu)
        assert fitted is not None and fitted.provenance.method == "fit"
        on_magicdec = calibration_for(hw, magicdec)
        assert on_magicdec.layer_overhead_us == fitted.values.layer_overhead_us
        assert on_magicdec.memory_efficiency == fitted.values.memory_efficiency
        on_vllm = calibration_for(hw, vllm)
        assert on_vllm.layer_overhead_us == vllm.parameters.layer_overhead_us
        assert on_vllm.memory_efficiency == hw.achieved.memory_efficiency  # type: ignore[union-attr]
    # vLLM's FlashAttention 3 values on Hopper, its engine-level flash-decoding values elsewhere.
    assert calibration_for(load_hardware("h100-sxm"), vllm).attention_floor_us == 7.483
    assert calibration_for(load_hardware("a100-80gb-sxm"), vllm).attention_floor_us == 14.93
