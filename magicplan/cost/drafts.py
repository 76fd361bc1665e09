"""What one draft pass costs, for every draft choice: self-speculation, a separate small model,
and the drafting families (EAGLE, EAGLE-3, Medusa, MTP, n-gram lookup; `specs/drafts.py`).

- self / a small model: one forward of one token per sequence (`cost/steps.py: draft_time`);
- EAGLE, EAGLE-3, MTP: a forward of the family's decoder layer(s) at the target's width over
  `branch` tokens per sequence and its own KV cache (full, or compressed with the methods and
  budgets of self-speculation), plus the FC that fuses the target's features, scored by the
  target's LM head (EAGLE, MTP) or a reduced one (EAGLE-3);
- Medusa: its k heads on one hidden state per sequence, in one pass, no KV cache;
- n-gram lookup: no accelerator work, a host time per round (engine `ngram_lookup_us`).

A family's draft pass runs inside the round: it pays its layers' latencies (kernel launches,
the attention kernel's floor), not the engine's per-step overhead (scheduler, sampler setup),
which the round pays once with its verify step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import (
    Array,
    OpCost,
    fusion_ops,
    kv_bytes_per_token_per_gpu,
    medusa_ops,
    shard,
)
from magicplan.cost.roofline import (
    BREAKDOWN_CLASSES,
    Roofline,
    gather_time,
    ops_time,
    ops_total,
)
from magicplan.cost.steps import StepTime, forward_time
from magicplan.errors import MagicplanError, shown
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.model import DTYPE_BYTES, ModelSpec

Draft = ModelSpec | DraftKindSpec | None  # a small model, a family, None: self-speculation


def draft_kind_of(draft: Draft) -> str:
    """'self', 'draft_model', or the family's keyword."""
    if draft is None:
        return "self"
    return draft.kind if isinstance(draft, DraftKindSpec) else "draft_model"


def draft_id(draft: Draft) -> str:
    """How plans and tables name a draft: 'self', the model's id, or the family keyword."""
    return "self" if draft is None else draft.id


@lru_cache(maxsize=256)
def head_model(target: ModelSpec, spec: DraftKindSpec) -> ModelSpec | None:
    """The decoder stack one pass of a layered family runs: the target's layer shape (MoE where
    the target is), `layers` of them (an MTP family: the target's `mtp_layers`), scored by an LM
    head of the target's vocabulary or the family's own; None for Medusa and n-gram lookup."""
    if not spec.layers:
        return None
    layers = spec.layers
    if spec.kind == "mtp":
        if not target.mtp_layers:
            raise MagicplanError(
                f"draft mtp: {target.id} has no multi-token-prediction module "
                "(config.json num_nextn_predict_layers); choose another draft"
            )
        layers = target.mtp_layers
    vocab = spec.draft_vocab_size or target.vocab_size
    return target.model_copy(
        update={"id": f"{target.id}-{spec.kind}", "num_layers": layers, "vocab_size": vocab,
                "sliding_window": None, "local_layers": None, "mtp_layers": 0}
    )  # fmt: skip


def in_round(rf: Roofline) -> Roofline:
    """`rf` without the per-step costs a draft pass inside a round does not pay again."""
    return replace(rf, step_overhead_s=0.0, sampling_s=0.0)


@dataclass(frozen=True)
class Drafter:
    """One draft choice for `target`, costed: a pass, the passes per round, weights, KV."""

    target: ModelSpec
    draft: Draft

    @property
    def kind(self) -> str:
        """'self', 'draft_model' or the family keyword."""
        return draft_kind_of(self.draft)

    @property
    def spec(self) -> DraftKindSpec | None:
        """The family's spec (None for self-speculation and small models)."""
        return self.draft if isinstance(self.draft, DraftKindSpec) else None

    @cached_property
    def model(self) -> ModelSpec | None:
        """What one pass runs: the target, the small model, a family's decoder stack (None for
        Medusa and n-gram lookup)."""
        if self.spec is None:
            return self.draft if isinstance(self.draft, ModelSpec) else self.target
        return head_model(self.target, self.spec)

    @property
    def kv_cache(self) -> bool:
        """Whether the draft attends to a KV cache of its own (and a KV method applies)."""
        return self.spec is None or self.spec.kv_cache

    @property
    def branch(self) -> int:
        """Tokens per sequence in one draft pass (a tree's frontier; 1 for chains)."""
        return 1 if self.spec is None else self.spec.branch

    def passes(self, gamma: npt.ArrayLike) -> Array:
        """Draft passes per round at draft depth γ: γ, or 1 for parallel drafters."""
        g = np.asarray(gamma, dtype=np.float64)
        return np.ones_like(g) if self.spec is not None and self.spec.parallel else g

    def verified(self, gamma: npt.ArrayLike, tree_tokens: npt.ArrayLike = np.nan) -> Array:
        """Tokens verified per sequence: a tree's `tree_tokens` (NaN: its own), at least γ + 1;
        a chain's γ + 1 (where a given `tree_tokens` other than γ + 1 is a MagicplanError)."""
        t = np.asarray(tree_tokens, dtype=np.float64)
        chain = np.asarray(gamma, dtype=np.float64) + 1.0
        spec = self.spec
        if spec is None or not spec.is_tree:
            if np.any(~np.isnan(t) & (t != chain)):
                raise MagicplanError(
                    "tree_tokens applies to tree drafters (eagle, eagle3, medusa); draft "
                    f"{self.kind} verifies a chain of gamma + 1 tokens"
                )
            return chain
        q = np.where(np.isnan(t), float(spec.tree_tokens or 0), t)
        if np.any(q < chain) or np.any(q != np.floor(q)):
            raise MagicplanError(
                "tree_tokens must be a whole number of at least gamma + 1 (the tree's depth and "
                f"its root); got {shown(tree_tokens)}"
            )
        return q

    def pass_time(
        self, rf: Roofline, num_gpus: int, batch: npt.ArrayLike, kv_len: npt.ArrayLike,
        select_len: npt.ArrayLike | None = None,
    ) -> StepTime:  # fmt: skip
        """Seconds of one draft pass of `batch` sequences over `kv_len` draft-cache keys (a
        top-k selection scanning `select_len` keys)."""
        spec, model = self.spec, self.model
        if spec is None:
            return forward_time(model, rf, num_gpus, batch, 1.0, kv_len, select_len)  # type: ignore[arg-type]
        b = np.asarray(batch, dtype=np.float64)
        if spec.kind == "ngram":
            lookup = np.full(np.broadcast_shapes(b.shape, np.shape(kv_len)), rf.ngram_lookup_s)
            return StepTime(lookup, lambda: _classes(overhead=lookup))
        tokens = b * float(spec.branch)
        sh = shard(self.target, num_gpus)
        if model is None:  # Medusa: the heads alone, their logits gathered
            ops = medusa_ops(self.target, sh, tokens, spec.heads, spec.head_layers)
            logits = spec.heads * tokens * self.target.vocab_size
            comm = gather_time(logits * DTYPE_BYTES[self.target.dtype], num_gpus, rf)
            gathered = StepTime(np.asarray(comm), lambda: _classes(communication=comm))
            return _with_ops(gathered, ops, rf)
        st = forward_time(model, in_round(rf), num_gpus, b, float(spec.branch), kv_len,
                          select_len)  # fmt: skip
        extra = fusion_ops(
            model,
            sh,
            tokens,
            inputs=spec.fusion_inputs,
            attention_inputs=spec.attention_inputs,
            layers=model.num_layers,
        )
        return _with_ops(st, extra, rf)

    def weight_bytes_per_gpu(self, num_gpus: int) -> float:
        """Weights the draft adds on one GPU (0 for self-speculation and n-gram lookup; a
        family's layers, FC and own heads, sharing the target's embedding and LM head)."""
        from magicplan.cost.memory import weight_bytes_per_gpu

        spec, model = self.spec, self.model
        if spec is None:
            if model is None or self.draft is None:
                return 0.0
            return weight_bytes_per_gpu(model, shard(model, num_gpus))
        h, a = self.target.hidden_size, DTYPE_BYTES[self.target.dtype]
        w = self.target.linear_weight_bytes_per_parameter
        if model is None:  # Medusa's heads (ResBlocks replicated, LM heads vocab-parallel)
            vocab = self.target.vocab_size / num_gpus
            return spec.heads * (spec.head_layers * (h * h * w + h * a) + h * vocab * a)
        # per layer: attention and MLP, and the Q/K/V columns of extra inputs (EAGLE-3), split
        # over the GPUs; the fusion FC replicated on each
        layer = model.attention_parameters_per_layer + model.mlp_parameters_per_layer
        layer += (spec.attention_inputs - 1) * h * (model.q_dim + 2 * model.kv_dim)
        fusion = spec.fusion_inputs * h * h
        own_head = h * model.vocab_size / num_gpus if spec.lm_head == "own" else 0.0
        return (model.num_layers * layer / num_gpus + fusion) * w + own_head * a

    def kv_bytes_per_token_per_gpu(self, num_gpus: int) -> float:
        """KV bytes one cached token adds to the draft's cache on one GPU (0 without one; for
        self-speculation the caller decides whether the draft keeps a cache of its own)."""
        model = self.model
        if not self.kv_cache or model is None:
            return 0.0
        return kv_bytes_per_token_per_gpu(model, shard(model, num_gpus))


def _classes(**given: Array) -> dict[str, Array | float]:
    """Every breakdown class, 0 where not `given`."""
    return {cls: given.get(cls, 0.0) for cls in BREAKDOWN_CLASSES}


def _with_ops(st: StepTime, ops: list[OpCost], rf: Roofline) -> StepTime:
    """`st` plus the roofline time of `ops` (by class when asked)."""
    if not ops:
        return st
    total = np.asarray(st.total_s + ops_total(ops, rf), dtype=np.float64)

    def classes() -> dict[str, Array | float]:
        parts = dict(st.parts)
        for cls, val in ops_time(ops, rf).items():
            parts[cls] = parts.get(cls, 0.0) + val
        return parts

    return StepTime(total, classes)
