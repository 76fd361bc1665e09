"""The categorical part of a scenario (`Setup`: hardware, TP, target, draft, KV method) and the
checks every workload axis goes through."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from magicplan.choices import Mode
from magicplan.cost.defaults import calibration_for
from magicplan.cost.memory import DEFAULT_MEMORY_UTILIZATION
from magicplan.cost.operators import Array, shard
from magicplan.cost.roofline import Roofline, make_roofline
from magicplan.cost.steps import check_method
from magicplan.errors import MagicplanError, shown
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import Calibration, HardwareSpec
from magicplan.specs.model import ModelSpec

if TYPE_CHECKING:
    from magicplan.cost.drafts import Drafter

MAX_INTEGER = 2.0**53  # largest integer float64 holds exactly


def as_drafted(
    draft: ModelSpec | DraftKindSpec | None,
    engine: EngineSpec | None,
    hardware: HardwareSpec,
    tree_tokens: object = None,
) -> tuple[ModelSpec | DraftKindSpec | None, str | None]:
    """The draft as the serving engine runs it, and a note when that differs from what was
    asked: a tree family (EAGLE, Medusa) on an engine without tree verification drafts a chain,
    the top token at each step (`DraftKindSpec.as_chain`). `tree_tokens` given there is a
    MagicplanError."""
    from magicplan.specs.registry import runnable

    runs = runnable(engine, hardware)
    if not isinstance(draft, DraftKindSpec) or not draft.is_tree or runs is None:
        return draft, None
    if runs.speculative.tree_verify:
        return draft, None
    if tree_tokens is not None:
        raise MagicplanError(
            f"tree_tokens: engine {runs.id} verifies no token trees ({draft.kind} drafts a chain "
            "of gamma tokens there); leave it out, or name an engine with tree_verify (magicplan "
            "engines list)"
        )
    note = (f"{runs.id} verifies no token trees: {draft.kind} drafts a chain of gamma tokens "
            "(the top token at each step); the acceptance given is the chain's")  # fmt: skip
    return draft.as_chain(), note


@dataclass(frozen=True, kw_only=True)
class Setup:
    """The categorical part of a scenario: where it runs and which draft it uses.

    A separate draft without `draft_num_gpus` runs on the largest tensor-parallel group that
    divides `num_gpus` and can split it (all of the target's GPUs when it can).
    """

    hardware: HardwareSpec
    num_gpus: int
    target: ModelSpec
    draft: ModelSpec | DraftKindSpec | None = None  # None = self-speculation; or a family
    kv_method: str = "streamingllm"
    draft_num_gpus: int | None = None
    mode: Mode = "calibrated"
    calibration: Calibration | None = None
    memory_utilization: float = DEFAULT_MEMORY_UTILIZATION
    engine: EngineSpec | None = None  # None: the hardware's own calibration, else the default

    def __post_init__(self) -> None:
        check_method(self.kv_method)
        shard(self.target, self.num_gpus)
        hw = self.hardware
        if self.num_gpus > 1 and hw.scaleup_link_gb_s is None and hw.host_link_gb_s is None:
            raise MagicplanError(
                f"num_gpus={self.num_gpus} needs a link between devices, but hardware '{hw.id}' "
                "has no scaleup_link_gb_s or host_link_gb_s: use num_gpus 1"
            )
        if self.draft_num_gpus is not None and self.draft_num_gpus < 1:
            raise MagicplanError(
                f"draft_num_gpus must be a positive integer; got {self.draft_num_gpus}"
            )
        if not isinstance(self.draft, ModelSpec) and self.draft_num_gpus not in (
            None, self.num_gpus,
        ):  # fmt: skip
            what = "self-speculation" if self.draft is None else f"a {self.draft.kind} draft"
            raise MagicplanError(
                f"draft_num_gpus={self.draft_num_gpus}: {what} runs on the target's "
                f"num_gpus={self.num_gpus}; draft_num_gpus applies to a separate draft model"
            )
        if isinstance(self.draft, DraftKindSpec):  # runs on the target's GPUs, shares its vocab
            from magicplan.cost.drafts import Drafter

            Drafter(self.target, self.draft).model  # noqa: B018 (an MTP draft needs the module)
        elif self.draft is not None:
            check_draft_vocab(self.target, self.draft)
            if self.draft_n > self.num_gpus:
                raise MagicplanError(
                    f"draft_num_gpus={self.draft_n} must not exceed num_gpus={self.num_gpus}"
                )
            shard(self.draft, self.draft_n)
        memory_fraction(self.memory_utilization)

    @cached_property
    def drafter(self) -> Drafter:
        """The draft choice, costed (`cost/drafts.py`)."""
        from magicplan.cost.drafts import Drafter

        return Drafter(self.target, self.draft)

    @property
    def draft_model(self) -> ModelSpec:
        """The model that drafts: the small draft, or the target itself (a family's decoder
        stack; the target for Medusa and n-gram lookup)."""
        return self.drafter.model or self.target

    @property
    def draft_kv_method(self) -> str:
        """The draft cache's method: `kv_method`, or "none" for a draft without a cache."""
        return self.kv_method if self.drafter.kv_cache else "none"

    @cached_property
    def draft_n(self) -> int:
        """Tensor-parallel degree of the draft: `draft_num_gpus`, else the largest group of the
        target's GPUs that can split it."""
        if isinstance(self.draft, DraftKindSpec):
            return self.num_gpus  # a family runs on the target's GPUs, sharded as it is
        if self.draft_num_gpus is not None:
            return self.draft_num_gpus
        if self.draft is None:
            return self.num_gpus
        return largest_split(self.draft, self.num_gpus)

    @property
    def draft_split_note(self) -> str | None:
        """Why a separate draft runs on fewer GPUs than the target (None when it does not)."""
        d = self.draft
        if (
            not isinstance(d, ModelSpec)
            or self.draft_num_gpus is not None
            or (self.draft_n == self.num_gpus)
        ):
            return None
        return (
            f"draft {d.id} cannot split over num_gpus={self.num_gpus} ({d.num_attention_heads} "
            f"heads, {d.num_kv_heads} KV heads): it runs on draft_num_gpus={self.draft_n}, the "
            "largest tensor-parallel group that divides both"
        )

    @cached_property
    def resolved_calibration(self) -> Calibration:
        """The parameters of this hardware × engine (`cost.defaults.calibration_for`)."""
        return self.calibration or calibration_for(self.hardware, self.engine)

    @property
    def engine_id(self) -> str:
        """Id of the engine the prediction assumes."""
        return self.resolved_calibration.engine

    def roofline_for(self, model: ModelSpec) -> Roofline:
        """Rates and latencies for `model`'s dtypes on this hardware × engine (ideal mode:
        datasheet peaks, no overheads)."""
        return make_roofline(
            self.hardware,
            self.resolved_calibration,
            model.compute_dtype,
            ideal=self.mode == "ideal",
            weight_format=model.quantized_weight_dtype,
        )

    @cached_property
    def roofline(self) -> Roofline:
        """The target's roofline (`roofline_for`)."""
        return self.roofline_for(self.target)

    @cached_property
    def draft_roofline(self) -> Roofline:
        """The draft model's roofline (the target's for self-speculation)."""
        if not isinstance(self.draft, ModelSpec) or (
            self.draft.compute_dtype == self.target.compute_dtype
            and (self.draft.quantized_weight_dtype == self.target.quantized_weight_dtype)
        ):
            return self.roofline
        return self.roofline_for(self.draft)


def memory_fraction(value: float | None) -> float:
    """`memory_utilization` (the fraction of device memory an engine may fill), or the default
    when None; a MagicplanError unless it lies in (0, 1]."""
    if value is None:
        return DEFAULT_MEMORY_UTILIZATION
    if not 0 < value <= 1:
        raise MagicplanError(f"memory_utilization must be in (0, 1]; got {shown(value)}")
    return float(value)


def served_fraction(
    given: float | None, engine: EngineSpec | None, hardware: HardwareSpec
) -> float:
    """The fraction of device memory the serving engine fills: the one `given`, else the
    engine's own (the one named, else the default engine: `runnable`), else the default."""
    from magicplan.specs.registry import runnable

    runs = runnable(engine, hardware)
    return memory_fraction(given if given is not None or runs is None else runs.memory_utilization)


def splits(model: ModelSpec, num_gpus: int) -> bool:
    """Whether tensor parallelism over `num_gpus` can split `model` (heads, KV heads, MLP)."""
    try:
        shard(model, num_gpus)
    except MagicplanError:
        return False
    return True


def largest_split(model: ModelSpec, num_gpus: int) -> int:
    """The largest divisor of `num_gpus` over which `model` splits (1 always does)."""
    return max(d for d in range(1, num_gpus + 1) if num_gpus % d == 0 and splits(model, d))


def draft_mismatch(target: ModelSpec, draft: ModelSpec) -> str | None:
    """Why `draft` cannot draft for `target` (None when it can): the two must share a tokenizer.

    Known families compare by family and real vocabulary (`tokenizer_vocab_size`), so drafts
    whose embeddings are padded differently (Qwen2.5-0.5B's 151,936 rows, Qwen2.5-7B's 152,064)
    pass. Where either family is unknown, the embedding sizes must be equal.
    """
    t, d = target, draft
    if t.tokenizer is not None and d.tokenizer is not None:
        same_size = None in (t.tokenizer_vocab_size, d.tokenizer_vocab_size) or (
            t.tokenizer_vocab_size == d.tokenizer_vocab_size
        )
        if _token_ids(t.tokenizer) == _token_ids(d.tokenizer) and same_size:
            return None
        return (
            f"draft '{d.id}' uses the {d.tokenizer} tokenizer (vocab {_vocab(d)}) but target "
            f"'{t.id}' uses {t.tokenizer} (vocab {_vocab(t)}): a draft must share the target's "
            "tokenizer"
        )
    if d.vocab_size == t.vocab_size:
        return None
    return (
        f"draft '{d.id}' has vocab {d.vocab_size} but target '{t.id}' has vocab {t.vocab_size} "
        "(tokenizer family unknown, so the vocab sizes must be equal): a draft must share the "
        "target's tokenizer"
    )


# Tokenizer families kept apart elsewhere (published acceptance is borrowed within a family) but
# mapping text to the same token ids: Llama 2 "use[s] the same tokenizer as Llama 1" (Touvron et
# al. 2023, arXiv 2307.09288, §2.1: BPE, 32k tokens), so Vicuna (LLaMA-1) and Llama-2 models
# draft for each other.
SAME_TOKEN_IDS = {"llama": "llama-2"}


def _token_ids(family: str) -> str:
    """The family whose token ids `family` shares (itself unless `SAME_TOKEN_IDS` says)."""
    return SAME_TOKEN_IDS.get(family, family)


def _vocab(m: ModelSpec) -> int:
    return m.tokenizer_vocab_size or m.vocab_size


def check_draft_vocab(target: ModelSpec, draft: ModelSpec) -> None:
    """A draft must share the target's tokenizer (`draft_mismatch`); else a MagicplanError."""
    reason = draft_mismatch(target, draft)
    if reason is not None:
        raise MagicplanError(reason)


def check_positive(
    name: str, value: npt.ArrayLike, integer: bool = True, allow_zero: bool = False
) -> Array:
    """`value` as a float array, or a MagicplanError naming `name` and what is allowed.

    Integers must stay below 2^53 (exact in float64), which also keeps every product of the
    workload axes far from overflow.
    """
    try:
        raw = np.asarray(value)
        v = raw.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MagicplanError(f"{name} must be a number; got {shown(value)}") from exc
    if v.size:
        lo, hi = v.min(), v.max()  # NaN fails every comparison below
        ok = (lo >= 0 if allow_zero else lo > 0) and bool(np.isfinite(hi))
        if ok and integer:  # whole numbers up to 2^53 (an integer dtype needs no rounding test)
            ok = hi <= MAX_INTEGER and (raw.dtype.kind in "iub" or not np.any(np.floor(v) != v))
        if not ok:
            kind = "integer" if integer else "number"
            bound = ">= 0" if allow_zero else "> 0"
            top = " and at most 2^53" if integer else ""
            raise MagicplanError(f"{name} must be a finite {kind} {bound}{top}; got {shown(value)}")
    return v
