"""The planner's inputs, validated once (one clear MagicplanError per bad field) and resolved:
specs loaded, default drafts, budgets, γ and draft TP degrees filled in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from magicplan.arguments import count_arg, plan_arguments
from magicplan.cost.drafts import Drafter
from magicplan.cost.memory import DEFAULT_MEMORY_UTILIZATION
from magicplan.cost.roofline import Roofline
from magicplan.cost.speculative import check_acceptance
from magicplan.cost.steps import KV_METHODS, check_method
from magicplan.errors import MagicplanError
from magicplan.physics import workload_warnings
from magicplan.planner import acceptance as acc
from magicplan.planner.accepted_lengths import TauEntry, lookup_tau, read_tau_table, shipped_tau
from magicplan.planner.engine_features import restrict, runnable, vendor_note
from magicplan.setup import (
    Setup,
    check_draft_vocab,
    check_positive,
    draft_mismatch,
    served_fraction,
    splits,
)
from magicplan.specs import list_models
from magicplan.specs.drafts import FAMILY_KINDS, DraftKindSpec, draft_kind
from magicplan.specs.engine import EngineSpec
from magicplan.specs.hardware import HardwareSpec
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import served
from magicplan.specs.registry import (
    Draft,
    HardwareLike,
    ModelLike,
    as_draft,
    as_engine,
    as_hardware,
    as_model,
)

DEFAULT_BUDGETS = (128, 256, 512, 1024, 2048, 4096, 8192)  # issue 4: budgets 128..8192
DEFAULT_GAMMAS = tuple(range(1, 13))  # issue 4: γ from 1 to 12


@dataclass(kw_only=True)
class PlanInputs:
    """Everything a plan depends on, resolved (specs loaded, defaults filled)."""

    hardware: HardwareSpec
    num_gpus: int
    target: ModelSpec
    batch: int
    context: int
    drafts: list[Draft]  # None = self-speculation; a model; a drafting family
    kv_methods: tuple[str, ...] = KV_METHODS
    kv_budgets: tuple[int, ...] = DEFAULT_BUDGETS
    gammas: tuple[int, ...] = DEFAULT_GAMMAS
    acceptance: float | tuple[float, ...] | None = None  # scalar α or per-position α_1..α_n
    acceptance_table: list[acc.Entry] = field(default_factory=list)
    draft_num_gpus: tuple[int, ...] | None = None
    notes: list[str] = field(default_factory=list)
    acceptance_interval: tuple[float, float] | None = None  # 95 % interval of a scalar α
    memory_utilization: float = DEFAULT_MEMORY_UTILIZATION  # fraction of memory engines fill
    gpu_hour_usd: float | None = None  # one GPU's hourly price, for $/hour and $/M tokens
    engine: EngineSpec | None = None  # None: the hardware's own calibration, else the default
    # What the engine cannot run, left out of the search: (what, why) for the plan's notes.
    beyond_engine: tuple[str, ...] = ()
    accepted_per_step: float | None = None  # the user's τ (tokens per round), for any draft
    tree_tokens: int | None = None  # tokens a tree family verifies per sequence (None: its own)
    tau_table: list[TauEntry] = field(default_factory=list)  # published τ of the families
    gammas_given: bool = False  # the user's γ (else the default search, bounded per family)

    @cached_property
    def base_setup(self) -> Setup:
        """The target on its GPUs, hardware × engine (built once per inputs)."""
        return self.setup()

    def roofline_for(self, model: ModelSpec | None) -> Roofline:
        """Rates and latencies for `model` (None: the target) on this hardware × engine."""
        return self.base_setup.roofline_for(model or self.target)

    def setup(self, target: ModelSpec | None = None, num_gpus: int | None = None) -> Setup:
        """The Setup of this workload (or of `target` on `num_gpus`) on its hardware × engine."""
        return Setup(
            hardware=self.hardware, num_gpus=num_gpus or self.num_gpus,
            target=target or self.target, engine=self.engine,
            memory_utilization=self.memory_utilization,
        )  # fmt: skip

    @property
    def engine_id(self) -> str:
        """Id of the engine the plan assumes."""
        return self.setup().engine_id


def default_drafts(target: ModelSpec, families: bool = True) -> list[Draft]:
    """Self-speculation, every shipped model with the target's tokenizer and fewer
    parameters, and (with `families`) every drafting family: EAGLE, EAGLE-3, Medusa, n-gram
    lookup, and MTP where the target ships an MTP module."""
    small = [
        m
        for m in list_models()
        if m.num_parameters < target.num_parameters
        and m.id != target.id
        and draft_mismatch(target, m) is None
    ]
    kinds = [k for k in FAMILY_KINDS if k != "mtp" or target.mtp_layers] if families else []
    return [None, *sorted(small, key=lambda m: m.num_parameters), *map(draft_kind, kinds)]


def chain_depth(inp: PlanInputs, draft: Draft) -> int:
    """The γ at which a chain's τ was measured: the one γ planned, else a chain family's own
    depth; a MagicplanError when neither says (self or a small model over several γ)."""
    if len(inp.gammas) == 1:
        return int(inp.gammas[0])
    if isinstance(draft, DraftKindSpec):
        return draft.depth
    raise MagicplanError(
        f"accepted_per_step for draft {draft.id if draft else 'self'}: give the one --gamma it "
        "was measured at (a chain's tokens per round depend on γ), or --acceptance α"
    )


def draft_degrees(model: ModelSpec, num_gpus: int, wanted: Sequence[int] | None) -> list[int]:
    """Tensor-parallel degrees of a separate draft: the divisors of `num_gpus` (or `wanted`)
    that can shard `model`."""
    candidates = wanted or [d for d in range(1, num_gpus + 1) if num_gpus % d == 0]
    return [int(d) for d in candidates if splits(model, int(d))]


def _acceptance(
    acceptance: float | Sequence[float] | None,
    samples: int | None,
    interval: Sequence[float] | None,
) -> tuple[float | tuple[float, ...] | None, tuple[float, float] | None]:
    """The user's α (scalar or per-position) and its 95 % interval, validated."""
    if acceptance is None:
        if samples is not None or interval is not None:
            raise MagicplanError("acceptance_samples/acceptance_interval need a scalar acceptance")
        return None, None
    check_acceptance(acceptance)
    if isinstance(acceptance, Sequence) and not isinstance(acceptance, str):
        if not acceptance:
            raise MagicplanError("acceptance: per-position rates need at least one value")
        if samples is not None or interval is not None:
            raise MagicplanError("acceptance_samples/acceptance_interval need a scalar acceptance")
        rates = tuple(float(a) for a in acceptance)
        return (rates[0] if len(rates) == 1 else rates), None
    alpha = float(acceptance)
    if interval is not None:
        lo, hi = (float(v) for v in check_acceptance(interval, "acceptance_interval"))
        if not lo <= alpha <= hi:
            raise MagicplanError(
                f"acceptance_interval must be [low, high] with low <= {alpha} <= high"
            )
        return alpha, (lo, hi)
    if samples is not None:
        n = float(check_positive("acceptance_samples", samples))
        return alpha, acc.wilson_interval(alpha, n)
    return alpha, None


def _table(acceptance_table: Any) -> list[acc.Entry]:
    if isinstance(acceptance_table, list):
        return acceptance_table
    if acceptance_table is None:
        return acc.load_table()
    return acc.load_table(Path(acceptance_table))


def _draft_tp(num_gpus: int, wanted: Sequence[int] | None) -> tuple[int, ...] | None:
    if not wanted:
        return None
    degrees = tuple(int(d) for d in check_positive("draft_num_gpus", list(wanted)))
    if any(d > num_gpus or num_gpus % d for d in degrees):
        raise MagicplanError(
            f"draft_num_gpus must divide num_gpus={num_gpus}; got {', '.join(map(str, degrees))}"
        )
    return degrees


def plan_inputs(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: int,
    context: int,
    **kw: Any,
) -> PlanInputs:
    """Validate and resolve the planner's inputs (specs, ids or paths); `kw` are `plan`'s
    optional arguments."""
    batch, context = count_arg("batch", batch), count_arg("context", context)
    kw = plan_arguments(kw)  # list options as lists, counts written '4k' read
    hardware = as_hardware(hardware)
    kv = kw.get("kv_dtype")
    target = served(as_model(target, "target"), kw.get("weight_dtype"), kv)
    check_positive("batch", batch)
    check_positive("context", context)
    check_positive("num_gpus", num_gpus)
    engine = as_engine(kw.get("engine"))
    utilization = served_fraction(kw.get("memory_utilization"), engine, hardware)
    # validates the split (names num_gpus) and the memory fraction
    Setup(hardware=hardware, num_gpus=num_gpus, target=target, memory_utilization=utilization)
    methods = tuple(check_method(m) for m in (kw.get("kv_methods") or KV_METHODS))
    budgets = tuple(
        int(b) for b in check_positive("kv_budgets", kw.get("kv_budgets") or DEFAULT_BUDGETS)
    )
    gammas = tuple(int(g) for g in check_positive("gammas", kw.get("gammas") or DEFAULT_GAMMAS))
    alpha, interval = _acceptance(
        kw.get("acceptance"), kw.get("acceptance_samples"), kw.get("acceptance_interval")
    )
    drafts = kw.get("drafts")
    if isinstance(drafts, (str, Path, DraftKindSpec)):
        drafts = [drafts]
    tau = _tau(kw.get("accepted_per_step"), alpha)
    # α (a rate) does not say a tree's τ: the default search keeps the families only when τ
    # can come from the table, that is without a user α
    ds = (
        [as_draft(d) for d in drafts]
        if drafts is not None
        else default_drafts(target, families=alpha is None or tau is not None)
    )
    left_out = (
        [d.id for d in default_drafts(target) if isinstance(d, DraftKindSpec)]
        if drafts is None and alpha is not None and tau is None
        else []
    )
    # the KV format the target's cache is served in (asked, or its checkpoint's) is the draft's
    ds = [served(d, None, kv or target.kv_dtype) if isinstance(d, ModelSpec) else d for d in ds]
    for d in ds:
        if isinstance(d, ModelSpec):
            check_draft_vocab(target, d)  # refuses a mismatched draft, naming "vocab"
        elif isinstance(d, DraftKindSpec):
            Drafter(target, d).model  # noqa: B018 (an MTP draft needs the target's module)
    runs = runnable(engine, hardware) if not kw.get("any_strategy") else None
    ds, methods, draft_tp, beyond = restrict(
        runs, ds, methods, _draft_tp(int(num_gpus), kw.get("draft_num_gpus")), int(num_gpus),
        int(batch),
    )  # fmt: skip
    notes = workload_warnings(hardware, int(num_gpus), target, int(context))
    notes += [n for n in (vendor_note(engine, hardware),) if n]
    if left_out:
        notes.append(
            f"with --acceptance α the default search leaves out the drafting families "
            f"({', '.join(left_out)}: α is your draft's, and does not say a tree's τ): give "
            "--drafts to plan them with it"
        )
    tau_table = tau_table_of(kw.get("tau_table"))
    if (runs is None or runs.speculative.tree_verify) and tau is None:
        both = chains_too(ds, target, tau_table, alpha is not None)
        ds = [*ds, *both]  # every strategy (no engine bounds it) includes the chains too
        if runs is not None and both:
            notes.append(
                f"{runs.id} also drafts {', '.join(d.id for d in both)} as a chain (the top token "
                "at each step), planned with "
                + ("the given α" if alpha is not None else "a published chain τ")
            )
    chains = [d.id for d in ds if isinstance(d, DraftKindSpec) and d.drafted_as_chain]
    if runs is not None and not runs.speculative.tree_verify and chains:
        tau_from = (
            "with the given --accepted-per-step as the chain's τ"
            if kw.get("accepted_per_step") is not None
            else "with the given α"
            if alpha is not None
            else "only where a chain τ is published (a tree's would overstate it)"
        )
        given = kw.get("tree_tokens")
        tree = f"; --tree-tokens {given} does not apply to a chain" if given is not None else ""
        notes.append(
            f"{runs.id} verifies no token trees: {', '.join(chains)} draft a chain here (the "
            f"top token at each step), planned {tau_from}{tree}"
        )
    asked = _draft_tp(int(num_gpus), kw.get("draft_num_gpus"))
    if runs is not None and asked and draft_tp and set(asked) - set(draft_tp):
        on = " or ".join(map(str, draft_tp))
        notes.append(
            f"{runs.id} runs a separate draft on {on} GPUs, not on "
            f"{', '.join(str(d) for d in asked if d not in draft_tp)}: planned on {on}"
        )
    fit = tuple(b for b in budgets if b <= context)
    if len(fit) < len(budgets) and any(m != "full" for m in methods):
        dropped = ", ".join(str(b) for b in budgets if b > context)
        notes.append(f"draft KV budgets above the context ({context}) not planned: {dropped}")
    return PlanInputs(
        hardware=hardware, num_gpus=int(num_gpus), target=target, batch=int(batch),
        context=int(context), drafts=ds, kv_methods=methods, kv_budgets=fit or (int(context),),
        gammas=gammas, gammas_given=bool(kw.get("gammas")), acceptance=alpha,
        acceptance_table=_table(kw.get("acceptance_table")),
        draft_num_gpus=draft_tp, notes=notes, acceptance_interval=interval,
        memory_utilization=utilization, gpu_hour_usd=_price(kw.get("gpu_hour_usd")),
        engine=engine, beyond_engine=beyond, accepted_per_step=tau,
        tree_tokens=_tree_tokens(kw.get("tree_tokens")), tau_table=tau_table,
    )  # fmt: skip


def _tau(accepted_per_step: float | None, alpha: Any) -> float | None:
    """The user's τ (tokens per round, >= 1), or None; not together with α."""
    if accepted_per_step is None:
        return None
    if alpha is not None:
        raise MagicplanError("give acceptance (α) or accepted_per_step (τ), not both")
    tau = float(check_positive("accepted_per_step", accepted_per_step, integer=False))
    if tau < 1:
        raise MagicplanError(f"accepted_per_step must be >= 1 (tokens per round); got {tau:g}")
    return tau


def _tree_tokens(value: int | None) -> int | None:
    if value is None:
        return None
    n = int(check_positive("tree_tokens", value))
    if n < 2:
        raise MagicplanError(f"tree_tokens must be >= 2 (the root and one drafted token); got {n}")
    return n


def chains_too(
    drafts: Sequence[Draft], target: ModelSpec, table: Sequence[TauEntry], alpha_given: bool
) -> list[DraftKindSpec]:
    """The tree families an engine that verifies trees may also draft as a chain (top-k 1, as
    SGLang's speculative_eagle_topk 1): each planned as a chain too where its acceptance as one
    is known (the user's α, else a published chain τ)."""

    def known(d: DraftKindSpec) -> bool:
        return (
            alpha_given or lookup_tau(table, target, d.kind, None, d.depth, chain=True) is not None
        )

    return [d.as_chain() for d in drafts if isinstance(d, DraftKindSpec) and d.is_tree and known(d)]


def tau_table_of(value: Any) -> list[TauEntry]:
    if isinstance(value, list):
        return value
    return list(shipped_tau()) if value is None else read_tau_table(Path(value))


def _price(gpu_hour_usd: float | None) -> float | None:
    if gpu_hour_usd is None:
        return None
    return float(check_positive("gpu_hour_usd", gpu_hour_usd, integer=False))
