"""Workloads the cost model would price quietly although they break a physical limit: a context
beyond the model's trained positions, tensor parallelism wider than one node's scale-up link.
Each check returns a warning sentence (the answer is still given: the user decides)."""

from __future__ import annotations

from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec


def workload_warnings(
    hardware: HardwareSpec, num_gpus: int, target: ModelSpec, context: float
) -> list[str]:
    """Warnings for a (hardware, TP degree, target, context) workload; empty when all is sound."""
    out = []
    if context > target.max_position_embeddings:
        out.append(
            f"warning: context {context:,.0f} exceeds {target.id}'s max_position_embeddings "
            f"({target.max_position_embeddings:,}): the model was not trained for it and its "
            "output degrades (the cost model still prices it)"
        )
    per_node = hardware.gpus_per_node
    if per_node is not None and num_gpus > per_node:
        out.append(
            f"warning: tensor parallelism over {num_gpus} GPUs spans more than one "
            f"{hardware.id} node ({per_node} GPUs on its scale-up link): its all-reduces cross "
            "the inter-node network, far slower than the scale-up link this profile prices"
        )
    return out
