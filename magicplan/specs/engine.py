"""Engine profiles: what a serving engine adds to the hardware's rates (`engine_profiles/*.yaml`).

An engine owns its fixed latencies (per step, per layer; CUDA graphs or Python), its
decode-attention kernel (bandwidth fraction, per-sequence term, per-call floor), its all-reduce,
its sampler, its weight-only kernels, and which speculative strategies it can run. Values it
measured on a particular GPU live in `calibrations` (engine × hardware). Every number is cited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from magicplan.specs.calibration import PARAMETERS, Provenance, Rates, Source, _Frozen, set_values

# Draft kinds an engine can run: self-speculation with the target's weights, a separate small
# model, and the drafting families that engines ship.
DraftKind = Literal["self", "draft_model", "eagle", "eagle3", "medusa", "mtp", "ngram"]
ExportFormat = Literal["vllm", "sglang"]
# What every engine profile must set: the latencies no hardware owns.
ENGINE_REQUIRED = (
    "step_overhead_us",
    "layer_overhead_us",
    "allreduce_latency_us",
    "link_efficiency",
)


class SpeculativeFeatures(_Frozen):
    """The speculative strategies an engine can run (the planner and `--export` agree on them)."""

    draft_kinds: list[DraftKind] = Field(min_length=0)
    compressed_draft_kv: bool = Field(
        description="a draft over a compressed (StreamingLLM, SnapKV, top-k) KV cache"
    )
    tree_verify: bool = Field(
        default=False,
        description="verifies a draft token tree (EAGLE-2/3, Medusa); without it a tree family "
        "drafts a chain",
    )
    batched: bool = Field(
        default=True,
        description="speculates over a batch of sequences (false: at batch 1 only)",
    )
    draft_tensor_parallel: Literal["any", "one_or_target", "target"] = "any"
    dynamic_gamma: bool = Field(default=False, description="γ chosen per batch size")
    export: ExportFormat | None = Field(default=None, description="config `--export` writes")


class EngineCalibration(_Frozen):
    """Values of one engine measured (or fitted) on one hardware part."""

    hardware: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    values: Rates
    provenance: Provenance


class EngineSpec(_Frozen):
    """One serving engine, as its sources describe it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    version: str | None = None
    # Other names the engine goes by: spellings (`tensorrt-llm`), engines built on it (`ollama`
    # runs llama.cpp) and release lines (`vllm-0.6`: `--engine "vllm==0.6.3"` finds the profile
    # whose aliases hold vllm-0.6); `specs.registry.engine_key` normalizes both sides.
    aliases: list[str] = Field(default_factory=list)
    notes: str | None = None
    vendors: list[str] | None = Field(
        default=None,
        description="hardware vendors it runs on (a hardware profile's `vendor`; None: not "
        "restricted here)",
    )
    cuda_graphs: bool = Field(description="decode steps replay captured CUDA graphs")
    attention_kernel: str = Field(min_length=1)
    allreduce: str = Field(min_length=1, description="all-reduce implementation")
    parameters: Rates
    speculative: SpeculativeFeatures
    memory_utilization: float | None = Field(
        default=None, gt=0, le=1, description="fraction of device memory the engine fills"
    )
    calibrations: list[EngineCalibration] = Field(default_factory=list)
    # How `parameters` were fitted and how well they reproduce their measurements.
    provenance: Provenance | None = None
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete_and_sourced(self) -> EngineSpec:
        values = set_values(self.parameters)
        missing = [k for k in ENGINE_REQUIRED if k not in values]
        if missing:
            raise ValueError(f"parameters.{missing[0]} is required for an engine")
        cited = {f for s in self.sources for f in s.fields}
        numeric = [*values, *(["memory_utilization"] if self.memory_utilization else [])]
        unsourced = [n for n in numeric if n not in cited]
        if unsourced:
            raise ValueError(f"field '{unsourced[0]}' has no entry in sources")
        unknown = sorted(cited - {*PARAMETERS, "memory_utilization"})
        if unknown:
            raise ValueError(f"sources name unknown field '{unknown[0]}'")
        hardware = [c.hardware for c in self.calibrations]
        twice = sorted({h for h in hardware if hardware.count(h) > 1})
        if twice:
            raise ValueError(f"calibrations list hardware '{twice[0]}' twice")
        return self

    def calibration_on(self, hardware_id: str) -> EngineCalibration | None:
        """This engine's measured values on `hardware_id`, if it has any."""
        return next((c for c in self.calibrations if c.hardware == hardware_id), None)

    def runs(self, kind: str) -> bool:
        """True when the engine can run drafts of `kind` (self, draft_model, eagle, ...)."""
        return kind in self.speculative.draft_kinds
