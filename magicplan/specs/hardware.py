"""Hardware profiles: datasheet figures (units in the keys, every number sourced), what the
part's kernels reach (`achieved`: bandwidth fraction and GEMM FLOP/s curve, fitted to cited
measurements), and optionally an engine × hardware calibration written by `calibrate`.

YAML keys carry units (`memory_gb` or `memory_gib`, `hbm_bandwidth_tb_s`, `bf16_dense_tflops`,
...); the properties below convert them to SI once (bytes, bytes/s, FLOP/s, seconds).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from magicplan.errors import MagicplanError
from magicplan.specs.calibration import Calibration, Provenance, Source, _Frozen
from magicplan.units import GB, GIB, TB, TERA

__all__ = ["PEAK_FIELD", "Achieved", "Calibration", "HardwareSpec", "Provenance", "Source"]

# Compute dtypes and the spec field holding their dense peak (TFLOP/s, or TOP/s for int8).
PEAK_FIELD = {
    "float32": "fp32_tflops",
    "tf32": "tf32_dense_tflops",
    "bfloat16": "bf16_dense_tflops",
    "float16": "fp16_dense_tflops",
    "fp8": "fp8_dense_tflops",
    "int8": "int8_dense_tops",
}


class Achieved(_Frozen):
    """What this part's own kernels reach (vendor GEMM library, streaming reads): the hardware's
    share of the calibration, fitted to the measurements `source` cites. Engines and engine ×
    hardware calibrations may override these (`magicplan.cost.defaults.calibration_for`)."""

    memory_efficiency: float = Field(ge=0.01, le=1, description="bandwidth fraction reached")
    compute_efficiency: float = Field(ge=0.01, le=1, description="large-GEMM fraction of peak")
    ridge_overlap: float = Field(default=0.0, ge=0, le=1)
    source: str = Field(min_length=3)
    provenance: Provenance | None = None


class HardwareSpec(_Frozen):
    """One accelerator (per device) as published, with an optional fitted calibration."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    vendor: str
    # Bounds are unit guards (a figure in B/s or FLOP/s where TB/s or TFLOP/s is meant), three
    # orders of magnitude beyond any part shipped today; the lower ones also keep step times
    # finite. Numbers must be numbers (strict: `true` is not 1 GB).
    memory_gb: float = Field(
        strict=True, gt=0, lt=1e5, description="device memory, decimal GB (1e9 bytes)"
    )
    # A datasheet's "80 GB" of HBM is 80 GiB: give it verbatim as memory_gib (memory_gb then
    # follows from it), or give memory_gb; one of the two.
    memory_gib: float | None = Field(
        default=None, strict=True, gt=0, lt=1e5, description="device memory, binary GiB (2^30 B)"
    )
    hbm_bandwidth_tb_s: float = Field(
        strict=True, ge=1e-4, lt=1e3, description="peak memory bandwidth, TB/s (1e12 B/s)"
    )
    fp32_tflops: float | None = Field(default=None, strict=True, ge=1e-4, lt=1e6)
    tf32_dense_tflops: float | None = Field(default=None, strict=True, ge=1e-4, lt=1e6)
    bf16_dense_tflops: float | None = Field(default=None, strict=True, ge=1e-4, lt=1e6)
    fp16_dense_tflops: float | None = Field(default=None, strict=True, ge=1e-4, lt=1e6)
    fp8_dense_tflops: float | None = Field(default=None, strict=True, ge=1e-4, lt=1e6)
    int8_dense_tops: float | None = Field(default=None, strict=True, ge=1e-4, lt=1e6)
    scaleup_link_gb_s: float | None = Field(
        default=None,
        strict=True,
        ge=1e-3,
        lt=1e6,
        description="scale-up link (NVLink, xGMI, ICI) per direction, GB/s",
    )
    host_link_gb_s: float | None = Field(
        default=None,
        strict=True,
        ge=1e-3,
        lt=1e6,
        description="host link (PCIe) per direction, GB/s",
    )
    stream_bandwidth_tb_s: float | None = Field(
        default=None,
        strict=True,
        ge=1e-4,
        lt=1e3,
        description="bandwidth a streaming benchmark reaches (BabelStream, bandwidthTest), TB/s",
    )
    gpus_per_node: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        lt=10**5,
        description="devices the scale-up link joins (one HGX/DGX node, an NVLink-bridged pair); "
        "tensor parallelism beyond it crosses the slower inter-node network",
    )
    tdp_w: float | None = Field(default=None, gt=0)
    notes: str | None = None
    sources: list[Source] = Field(min_length=1)
    achieved: Achieved | None = None
    # An engine × hardware calibration written by `magicplan calibrate` (or an older `fit`):
    # used as it is when no engine is named, or when the named engine is `calibration.engine`.
    calibration: Calibration | None = None

    @model_validator(mode="before")
    @classmethod
    def _memory_from_gib(cls, data: Any) -> Any:
        """memory_gb from a datasheet's GiB figure; giving both, or neither, is refused, and a
        GiB figure that is not a number is named as such."""
        if not isinstance(data, dict):
            return data
        if data.get("memory_gib") is None:
            typed = any(str(k).startswith("mem") for k in data)  # a misspelling: named below
            if data.get("memory_gb") is None and not typed:
                raise ValueError("give memory_gb (decimal GB) or memory_gib (GiB, as datasheets)")
            return data
        if data.get("memory_gb") is not None:
            raise ValueError("give memory_gb or memory_gib, not both")
        gib = data["memory_gib"]
        if not isinstance(gib, (int, float)) or isinstance(gib, bool) or not 0 < gib < 1e5:
            raise ValueError(f"memory_gib must be a number in (0, 1e5) GiB; got {gib!r}")
        return data | {"memory_gb": round(float(gib) * GIB / GB, 6)}

    @model_validator(mode="after")
    def _every_number_sourced(self) -> HardwareSpec:
        cited = {f for s in self.sources for f in s.fields}
        if "memory_gib" in cited and self.memory_gib is not None:
            cited.add("memory_gb")  # derived from the cited GiB figure
        numeric = [
            name
            for name, value in self
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        unsourced = [n for n in numeric if n not in cited]
        if unsourced:
            raise ValueError(f"field '{unsourced[0]}' has no entry in sources")
        unknown = sorted(cited - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"sources name unknown field '{unknown[0]}'")
        if (self.stream_bandwidth_tb_s or 0) > self.hbm_bandwidth_tb_s:
            raise ValueError("stream_bandwidth_tb_s must not exceed hbm_bandwidth_tb_s")
        if all(getattr(self, f) is None for f in PEAK_FIELD.values()):
            raise ValueError(
                "at least one peak compute figure (e.g. bf16_dense_tflops) is required"
            )
        return self

    # --- SI views -------------------------------------------------------------------------
    @property
    def memory_bytes(self) -> float:
        """Device memory in bytes."""
        return self.memory_gb * GB

    @property
    def stream_fraction(self) -> float | None:
        """Measured streaming bandwidth as a fraction of the peak (None when unmeasured)."""
        if self.stream_bandwidth_tb_s is None:
            return None
        return self.stream_bandwidth_tb_s / self.hbm_bandwidth_tb_s

    @property
    def memory_bandwidth_bytes_per_s(self) -> float:
        """Peak memory bandwidth in bytes/s."""
        return self.hbm_bandwidth_tb_s * TB

    @property
    def link_bandwidth_bytes_per_s(self) -> float:
        """Scale-up link bandwidth per direction in bytes/s; PCIe when there is no scale-up link."""
        gb_s = self.scaleup_link_gb_s or self.host_link_gb_s
        if gb_s is None:
            raise MagicplanError(
                f"hardware '{self.id}' has no link bandwidth (scaleup_link_gb_s or "
                "host_link_gb_s) for tensor parallelism: use num_gpus 1"
            )
        return gb_s * GB

    def supports(self, dtype: str) -> bool:
        """True when the hardware publishes a dense peak for `dtype`."""
        return getattr(self, PEAK_FIELD[dtype], None) is not None

    def peak_flops_per_s(self, dtype: str = "bfloat16") -> float:
        """Dense peak FLOP/s for `dtype`, or for the widest fallback the hardware publishes."""
        if dtype not in PEAK_FIELD:
            raise MagicplanError(f"dtype must be one of {', '.join(PEAK_FIELD)}; got '{dtype}'")
        # An unsupported narrow dtype computes in the next wider one the part has (fp8 weights on
        # an A100 run bf16 math; bf16 on a T4 or V100 runs fp16 tensor cores). float32 never
        # falls back to a narrower rate.
        chain = (
            ("fp32_tflops", "tf32_dense_tflops")
            if dtype == "float32"
            else (PEAK_FIELD[dtype], "bf16_dense_tflops", "fp16_dense_tflops", "fp32_tflops")
        )
        for field in chain:
            value = getattr(self, field)
            if value is not None:
                return float(value) * TERA
        raise MagicplanError(f"hardware '{self.id}' publishes no peak for dtype {dtype}")
