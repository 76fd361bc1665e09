"""The parameters that turn FLOPs and bytes into seconds, and where their values came from.

A `Calibration` is one complete set: the achieved rates of a hardware part (owned by its
profile), the fixed latencies and kernel behaviour of a serving engine (owned by the engine
profile), and, for a pair that was measured, fitted values for both. `Rates` is the same set with
every value optional: what one layer (hardware, engine, engine × hardware) contributes.
Composition (`magicplan.cost.defaults.calibration_for`) lays them over one another.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """A citation and the fields whose numbers it supports."""

    fields: list[str] = Field(min_length=1)
    citation: str = Field(min_length=3)


class Provenance(_Frozen):
    """Where a set of values came from: a published default, a `fit` or `calibrate`."""

    method: Literal["default", "fit", "calibrate"]
    source: str
    date: str | None = None
    input_file: str | None = None
    input_sha256: str | None = None
    rows: int | None = Field(default=None, ge=0)
    median_abs_error: float | None = Field(default=None, ge=0)
    p90_abs_error: float | None = Field(default=None, ge=0)
    max_abs_error: float | None = Field(default=None, ge=0)
    leave_one_out_median_abs_error: float | None = Field(default=None, ge=0)
    device: str | None = None
    notes: str | None = None


# Bounds: efficiencies of at least 1 % and latencies under 10 s (1 s per token and layer) are
# unit guards that also keep every step time finite.


class Calibration(_Frozen):
    """Achieved rates and fixed latencies of one serving engine on one hardware part.

    Per operator (`cost/roofline.py`): bytes move at `memory_efficiency` × peak bandwidth
    (weights of a weight-only int8/int4 kernel at `int8/int4_weight_efficiency` of that; KV read
    by decode attention at `attention_efficiency` × peak, plus `attention_half_length_tokens`
    keys' worth per sequence); FLOPs run at `compute_efficiency` × dense peak; an operator takes
    max(memory, compute, `ridge_overlap` × (memory + compute)) under overlap "max" (near the
    ridge point both limits bind, so achieved FLOP/s is a curve in the step's tokens; 0 means
    the plain max), their sum under "sum".
    Per step: `step_overhead_us` + `sampling_us` + `sampling_ns_per_logit` per token and vocab
    entry; per layer `layer_overhead_us` + `attention_floor_us` (the attention kernel's
    per-call floor) + `token_layer_overhead_ns` per token; per all-reduce
    `allreduce_latency_us` (+ `allreduce_latency_per_doubling_us` per doubling of the GPUs
    beyond 2) plus its bytes over `link_efficiency` × link bandwidth. A speculative round adds
    `round_overhead_us` (acceptance, sampling, cache bookkeeping); its verify step
    `verify_token_layer_overhead_ns` per layer for every token verified beyond one per sequence
    (tree or chain masks, gathers: what a verify pays that a decode step does not); an n-gram
    draft `ngram_lookup_us` of host time per round (the prompt lookup).
    `round_overhead_us` (acceptance, sampling, cache bookkeeping). An engine that launches
    kernels asynchronously from Python hides part of its fixed latencies behind the GPU's work:
    `host_overlap` h takes h·min(device, host) off the step (0: they add, 1: the step is the
    longer of the two).
    """

    engine: str = "generic"
    overlap: Literal["max", "sum"] = "max"
    memory_efficiency: float = Field(ge=0.01, le=1)
    compute_efficiency: float = Field(ge=0.01, le=1)
    ridge_overlap: float = Field(default=0.0, ge=0, le=1)
    attention_efficiency: float | None = Field(default=None, ge=0.01, le=1)
    attention_half_length_tokens: float = Field(default=0.0, ge=0, lt=1e7)
    attention_floor_us: float = Field(default=0.0, ge=0, lt=1e7)
    int8_weight_efficiency: float = Field(default=1.0, ge=0.01, le=1)
    int4_weight_efficiency: float = Field(default=1.0, ge=0.01, le=1)
    step_overhead_us: float = Field(ge=0, lt=1e7)
    layer_overhead_us: float = Field(ge=0, lt=1e7)
    token_layer_overhead_ns: float = Field(default=0.0, ge=0, lt=1e9)
    sampling_us: float = Field(default=0.0, ge=0, lt=1e7)
    sampling_ns_per_logit: float = Field(default=0.0, ge=0, lt=1e6)
    allreduce_latency_us: float = Field(ge=0, lt=1e7)
    allreduce_latency_per_doubling_us: float = Field(default=0.0, ge=0, lt=1e7)
    link_efficiency: float = Field(ge=0.01, le=1)
    round_overhead_us: float = Field(default=0.0, ge=0, lt=1e7)
    verify_token_layer_overhead_ns: float = Field(default=0.0, ge=0, lt=1e9)
    ngram_lookup_us: float = Field(default=0.0, ge=0, lt=1e7)
    host_overlap: float = Field(default=0.0, ge=0, le=1)
    provenance: Provenance


PARAMETERS: tuple[str, ...] = tuple(
    n for n in Calibration.model_fields if n not in ("engine", "provenance")
)


def _optional(name: str) -> tuple[Any, Any]:
    info = Calibration.model_fields[name]
    field: Any = Field(default=None, description=info.description)
    field.metadata = list(info.metadata)  # the bounds
    return (Optional[info.annotation], field)  # noqa: UP045 (a runtime type expression)


# Parameters that are numbers (YAML's `true` is not one: pydantic would read it as 1).
NUMERIC = frozenset(n for n in PARAMETERS if Calibration.model_fields[n].annotation in (float, int))


class _Numbers(_Frozen):
    @model_validator(mode="before")
    @classmethod
    def _no_booleans(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                if name in NUMERIC and isinstance(value, bool):
                    raise ValueError(f"{name} must be a number; got {value}")
        return data


# Every parameter, optional: the values one layer of a composition sets.
Rates = create_model(  # type: ignore[call-overload]
    "Rates",
    __base__=_Numbers,
    __doc__="Calibration parameters, each optional: what one profile or calibration sets.",
    **{n: _optional(n) for n in PARAMETERS},
)


def set_values(rates: BaseModel | None) -> dict[str, Any]:
    """The parameters `rates` sets (None values left out)."""
    if rates is None:
        return {}
    return {k: v for k, v in rates.model_dump().items() if v is not None and k in PARAMETERS}
