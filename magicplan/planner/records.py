"""The planner's intermediate records: what `baseline`, `evaluate` and `candidate_rows` hand on,
as frozen dataclasses (arrays inside, never mutated after construction).

Shapes: a block's grid is methods (M) × budgets (K) × γ (G); with a batch array the leading axes
of that array come first (e.g. N × M × K × G over N batch sizes, or M × K × G when every
strategy has its own batch, as in the SLO search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from magicplan.cost.operators import Array
from magicplan.cost.roofline import Roofline
from magicplan.planner.grid import DraftGrid


@dataclass(frozen=True)
class Acceptance:
    """α per (method, budget) of one draft (NaN: no evidence), its interval and sources; or,
    for a draft planned by its mean accepted length, τ (α NaN)."""

    alpha: np.ndarray  # (M, K)
    low: np.ndarray  # (M, K), NaN where unknown
    high: np.ndarray
    sources: list[list[str]]  # [M][K]
    tau: float | None = None  # the mean accepted length, for a draft planned by τ
    tau_gamma: int | None = None  # the γ a chain's τ was measured at (None: the user's)


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The target alone at the workload: one AR step, one verify step per γ, AR memory."""

    roofline: Roofline
    t_ar_s: Array  # () or the batch array's shape
    ar_breakdown: dict[str, Any]
    t_verify_s: Array  # (G,), or the batch array's shape broadcast with (G,)
    verify_breakdown: dict[str, Any]
    ar_memory_bytes: Array
    capacity_bytes: float  # what an engine may fill on one GPU


@dataclass(frozen=True, kw_only=True)
class Draft:
    """One categorical choice of draft: the model (None: self-speculation; or a drafting
    family's spec) and its TP degree, with its acceptance grid, its γ axis (a tree: its depth
    alone) and Ω per (method, budget, γ) (a tree: its τ)."""

    draft_id: str  # "self", the draft model's id, or the family keyword
    model: Any  # ModelSpec | DraftKindSpec | None
    draft_num_gpus: int
    acceptance: Acceptance
    omega: Array  # (M, K, G); NaN where α (τ) is unknown
    gammas: Array  # (G,): draft depths searched
    drafter: Any  # cost.drafts.Drafter
    tree_tokens: int | None = None  # tokens verified per sequence (trees); None: γ + 1
    tau: float | None = None  # the τ a tree (or a chain given τ) was planned with

    @property
    def kind(self) -> str:
        """'self', 'draft_model' or the family keyword."""
        return str(self.drafter.kind)


@dataclass(frozen=True, kw_only=True)
class Block:
    """Every method × budget × γ of one draft choice: step times, Ω and the round's seconds."""

    draft: Draft
    grid: DraftGrid
    t_round_s: Array  # passes·T_D + T_V + round overhead (`cost.speculative.round_time`)
    t_verify_s: Array  # (G,) or the batch array's shape broadcast with (G,)
    verify_classes: Callable[[], dict[str, Any]] = field(repr=False, compare=False)

    @property
    def verify_breakdown(self) -> dict[str, Any]:
        """The verify step's seconds by class (worked out when a report asks)."""
        return self.verify_classes()

    @property
    def t_token_s(self) -> Array:
        """Seconds per emitted token: the round over Ω."""
        return self.t_round_s / self.draft.omega


@dataclass(frozen=True)
class Evaluation:
    """The AR baseline and one block per (draft, draft TP degree)."""

    baseline: Baseline
    blocks: tuple[Block, ...]


@dataclass(frozen=True, kw_only=True)
class Candidates:
    """Every speculative candidate with known Ω as flat arrays, one index per strategy."""

    baseline: Baseline
    blocks: tuple[Block, ...]
    block: Array  # index into `blocks`
    m: Array  # method index
    k: Array  # budget index
    g: Array  # γ index
    t_token_s: Array
    memory_bytes: Array


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """What a speculative answer belongs to: draft, KV method, budget (0: full KV), γ, draft TP."""

    draft_model: str
    kv_method: str
    kv_budget: int
    gamma: int
    draft_num_gpus: int
    # tokens verified per sequence (a family's tree, or γ + 1 for a chain); only for its label
    tree_tokens: int | None = field(default=None, compare=False)

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Strategy:
        """The strategy of a plan entry (a candidate dict)."""
        return cls(**{k: entry[k] for k in STRATEGY_KEYS}, tree_tokens=entry.get("tree_tokens"))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {draft_model, kv_method, kv_budget, gamma, draft_num_gpus}, and
        tree_tokens when known (a family's tree, or γ + 1 for a chain)."""
        out = {k: getattr(self, k) for k in STRATEGY_KEYS}
        return out if self.tree_tokens is None else out | {"tree_tokens": self.tree_tokens}

    def label(self) -> str:
        """'draft llama-3.2-1b, streamingllm KV budget 512, γ=3' (full KV: 'full KV'; a
        family: 'eagle3 heads, full KV, depth 7')."""
        from magicplan.specs.drafts import is_family

        if is_family(self.draft_model):
            kv = "" if self.kv_method == "none" else f", {kv_label(self.kv_method, self.kv_budget)}"
            # a chain family, or a tree family an engine drafts as a chain
            chain = self.draft_model in CHAIN_FAMILIES or (
                self.tree_tokens is not None and not verifies_tree(self.as_dict())
            )
            depth = f"γ={self.gamma}" if chain else f"depth {self.gamma}"
            return f"{family_label(self.draft_model)}{kv}, {depth}"
        draft = "self-speculation" if self.draft_model == "self" else f"draft {self.draft_model}"
        return f"{draft}, {kv_label(self.kv_method, self.kv_budget)}, γ={self.gamma}"


CHAIN_FAMILIES = ("mtp", "ngram")


def verifies_tree(entry: dict[str, Any]) -> bool:
    """Whether a plan entry (a candidate, a strategy) verifies a token tree: more tokens per
    sequence than its chain's γ + 1."""
    return bool((entry.get("tree_tokens") or 0) > entry.get("gamma", 0) + 1)


FAMILY_LABELS = {
    "eagle": "EAGLE draft head", "eagle3": "EAGLE-3 draft head", "medusa": "Medusa heads",
    "mtp": "MTP module", "ngram": "n-gram lookup", "self": "self-speculation",
    "draft_model": "separate draft model",
}  # fmt: skip


def family_label(kind: str) -> str:
    """How a draft kind reads in sentences ('EAGLE-3 draft head', 'n-gram lookup')."""
    return FAMILY_LABELS.get(kind, kind)


STRATEGY_KEYS = ("draft_model", "kv_method", "kv_budget", "gamma", "draft_num_gpus")


def kv_label(method: str, budget: float) -> str:
    """How a draft's KV cache reads: 'full KV' (never a budget), else 'snapkv KV budget 2048'."""
    return "full KV" if method == "full" else f"{method} KV budget {int(budget)}"
