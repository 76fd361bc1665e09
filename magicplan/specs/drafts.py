"""Drafting families (`magicplan/data/draft_kinds.yaml`): what one draft pass of EAGLE, EAGLE-3,
Medusa, a multi-token-prediction module or n-gram lookup runs, from the released checkpoints'
configs, and each method's default draft shape, every number cited.

A draft is one of three things: self-speculation (the target itself, `None`), a separate small
model (a `ModelSpec`), or a family (`DraftKindSpec`, named by its kind keyword). The first two
draft a chain of γ tokens one pass per token; a family's shape is its own:

- `tree`: `tree_tokens` verified per sequence with a tree attention mask, drafted `depth` deep
  (`branch` tokens per sequence in each draft pass); acceptance is the mean accepted length τ;
- `chain`: γ tokens, γ + 1 verified; acceptance α (Ω(γ, α)) or τ.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, ValidationError, model_validator

from magicplan.errors import MagicplanError, format_validation_error
from magicplan.io import load_yaml
from magicplan.specs.calibration import Source, _Frozen

# The kind keywords `--draft` accepts besides 'self' and a model (CLI contract, issue 14).
FamilyKind = Literal["eagle", "eagle3", "medusa", "mtp", "ngram"]
FAMILY_KINDS: tuple[str, ...] = get_args(FamilyKind)
DATA = Path(__file__).resolve().parent.parent / "data" / "draft_kinds.yaml"


class DraftKindSpec(_Frozen):
    """One drafting family: the module a draft pass runs and the default draft shape.

    `layers` decoder layers at the target's width (its attention and MLP) after an FC of
    `fusion_inputs`·h → h; their Q/K/V read `attention_inputs`·h; an LM head that is the
    target's or the module's own (`draft_vocab_size` rows; the target's vocabulary when None);
    `heads` parallel heads of `head_layers` ResBlocks each (Medusa). `shape` tree: `tree_tokens`
    verified, `depth` deep, `branch` tokens per pass; chain: γ = `depth` by default.
    """

    kind: FamilyKind
    name: str
    layers: int = Field(default=0, ge=0, lt=1000)
    fusion_inputs: int = Field(default=0, ge=0, lt=100)
    attention_inputs: int = Field(default=1, ge=1, lt=100)
    lm_head: Literal["target", "own", "none"] = "none"
    draft_vocab_size: int | None = Field(default=None, ge=1, lt=10**9)
    heads: int = Field(default=0, ge=0, lt=100)
    head_layers: int = Field(default=0, ge=0, lt=100)
    kv_cache: bool
    shape: Literal["tree", "chain"]
    tree_tokens: int | None = Field(default=None, ge=2, lt=10**5)
    depth: int = Field(ge=1, lt=10**4)
    branch: int = Field(default=1, ge=1, lt=10**4)
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DraftKindSpec:
        if self.shape == "tree" and (self.tree_tokens is None or self.tree_tokens < self.depth + 1):
            raise ValueError("a tree needs tree_tokens >= depth + 1")
        if self.kv_cache and not self.layers:
            raise ValueError("kv_cache needs decoder layers")
        cited = {f for s in self.sources for f in s.fields}
        numeric = [n for n in ("layers", "fusion_inputs", "heads", "draft_vocab_size",
                               "tree_tokens", "depth") if getattr(self, n)]  # fmt: skip
        missing = [n for n in numeric if n not in cited]
        if missing:
            raise ValueError(f"field '{missing[0]}' has no entry in sources")
        return self

    def __hash__(self) -> int:  # the citations (lists) stay out of the hash
        return hash((self.kind, self.layers, self.tree_tokens, self.depth, self.branch))

    @property
    def id(self) -> str:
        """The kind keyword: how plans, tables and `--draft` name this draft."""
        return self.kind

    @property
    def is_tree(self) -> bool:
        """Whether the family verifies a token tree (τ is its acceptance input)."""
        return self.shape == "tree"

    @property
    def drafted_as_chain(self) -> bool:
        """A tree family on an engine without tree verification (`as_chain`)."""
        return self.shape == "chain" and self.tree_tokens is not None

    def as_chain(self) -> DraftKindSpec:
        """This family drafting a chain (the top token at each step: one token per sequence in
        each pass): how an engine without tree verification runs a tree family (vLLM's EAGLE
        and Medusa)."""
        return self.model_copy(update={"shape": "chain", "branch": 1}) if self.is_tree else self

    @property
    def parallel(self) -> bool:
        """Whether one draft pass proposes every drafted token (Medusa's heads; one n-gram
        lookup), rather than one pass per token of depth."""
        return self.kind in ("medusa", "ngram")

    def passes(self, depth: int) -> int:
        """Draft passes per round at draft depth `depth` (γ)."""
        return 1 if self.parallel else depth

    def verified_tokens(self, depth: int, tree_tokens: int | None = None) -> int:
        """Tokens verified per sequence: a tree's `tree_tokens` (or its default), a chain's
        γ + 1."""
        if not self.is_tree:
            return depth + 1
        return int(tree_tokens or self.tree_tokens or depth + 1)


@lru_cache(maxsize=1)
def draft_kinds() -> dict[str, DraftKindSpec]:
    """The shipped families by kind keyword (validated once)."""
    data = load_yaml(DATA)
    out: dict[str, DraftKindSpec] = {}
    for i, item in enumerate(data):
        try:
            spec = DraftKindSpec(**item)
        except ValidationError as exc:
            raise MagicplanError(format_validation_error(exc, f"{DATA} entry {i + 1}")) from exc
        out[spec.kind] = spec
    return out


def draft_kind(kind: str) -> DraftKindSpec:
    """The family named `kind`, or a MagicplanError listing the keywords."""
    kinds = draft_kinds()
    if kind not in kinds:
        raise MagicplanError(f"draft kind must be one of {', '.join(FAMILY_KINDS)}; got '{kind}'")
    return kinds[kind]


def is_family(name: object) -> bool:
    """Whether `name` is one of the family keywords (eagle, eagle3, medusa, mtp, ngram)."""
    return isinstance(name, str) and name in FAMILY_KINDS
