"""Small specs built in code so the formula tests do not depend on shipped profiles."""

from __future__ import annotations

import pytest

from magicplan.specs.hardware import Calibration, HardwareSpec, Provenance, Source
from magicplan.specs.model import ModelSpec


def make_model(**kw: object) -> ModelSpec:
    base: dict[str, object] = dict(
        id="toy",
        name="toy",
        architecture="llama",
        hidden_size=4096,
        intermediate_size=11008,
        num_layers=32,
        num_attention_heads=32,
        num_kv_heads=32,
        vocab_size=32000,
        max_position_embeddings=32768,
        source="Llama-2-7B config.json shapes",
    )
    base.update(kw)
    return ModelSpec(**base)  # type: ignore[arg-type]


def make_hw(**kw: object) -> HardwareSpec:
    base: dict[str, object] = dict(
        id="toy-gpu",
        name="toy",
        vendor="test",
        memory_gb=80,
        hbm_bandwidth_tb_s=1.0,
        bf16_dense_tflops=100,
        scaleup_link_gb_s=100,
        sources=[
            Source(
                fields=[
                    "memory_gb",
                    "hbm_bandwidth_tb_s",
                    "bf16_dense_tflops",
                    "scaleup_link_gb_s",
                ],
                citation="test values",
            )
        ],
    )
    base.update(kw)
    return HardwareSpec(**base)  # type: ignore[arg-type]


def make_cal(**kw: object) -> Calibration:
    base: dict[str, object] = dict(
        memory_efficiency=1.0,
        compute_efficiency=1.0,
        step_overhead_us=0.0,
        layer_overhead_us=0.0,
        allreduce_latency_us=0.0,
        link_efficiency=1.0,
        provenance=Provenance(method="default", source="test"),
    )
    base.update(kw)
    return Calibration(**base)  # type: ignore[arg-type]


@pytest.fixture
def llama2_7b() -> ModelSpec:
    return make_model()
