"""`estimate`: step times, speculative speedup, throughput and memory for one strategy, vectorized
over batch, context, γ, budget and acceptance (numpy arrays that broadcast)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.arguments import count_array
from magicplan.columns import (
    BREAKDOWN_COLUMNS,
    COLUMNS,
    MEMORY_COLUMNS,
    SPECULATIVE_COLUMNS,
    STEPS,
    SUMMARY_COLUMNS,
    Column,
    check_columns,
)
from magicplan.cost.memory import (
    max_batch,
    memory_terms,
    total_bytes,
    usable_bytes,
)
from magicplan.cost.operators import Array
from magicplan.cost.roofline import BREAKDOWN_CLASSES
from magicplan.cost.speculative import (
    check_acceptance,
    expected_tokens,
    round_time,
    spec_time_per_token,
    throughput_tokens_per_s,
)
from magicplan.cost.steps import (
    KvMethod,
    autoregressive_time,
    draft_kv_len,
    prefill_time,
    snapkv_select_time,
    verify_tokens_time,
)
from magicplan.errors import MagicplanError, shown
from magicplan.estimate_notes import engine_notes, workload_notes
from magicplan.setup import Mode, Setup, as_drafted, check_positive, served_fraction
from magicplan.specs.drafts import DraftKindSpec
from magicplan.specs.hardware import Calibration
from magicplan.specs.model import ModelSpec
from magicplan.specs.quantization import served
from magicplan.specs.registry import (
    DraftLike,
    EngineLike,
    HardwareLike,
    ModelLike,
    as_draft,
    as_engine,
    as_hardware,
    as_model,
)
from magicplan.units import GB, MS

__all__ = ["COLUMNS", "SUMMARY_COLUMNS", "Setup", "check_columns", "estimate", "estimate_arrays"]
# Rows per block when estimating many independent scenarios: numpy's temporaries (256 KiB) then
# stay in cache and the fixed cost of each numpy call is spread over enough rows (benchmarks/).
CHUNK = 1 << 15
STEP_COLUMNS = {*SPECULATIVE_COLUMNS, *BREAKDOWN_COLUMNS}


def estimate_arrays(
    setup: Setup,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike,
    kv_budget: npt.ArrayLike = 512,
    acceptance: npt.ArrayLike | None = None,
    accepted_per_step: npt.ArrayLike | None = None,
    columns: Iterable[str] | None = None,
    tree_tokens: npt.ArrayLike | None = None,
) -> dict[str, Array]:
    """Figures of `estimate` as arrays in ms, GB, tokens/s (keys are the JSON contract): every
    one of COLUMNS, or only `columns` (what is not asked for is not worked out).

    `gamma` is the draft depth (tokens drafted along a path); `tree_tokens` the tokens a tree
    drafter verifies per sequence (None or NaN: the family's default; chains verify γ + 1).
    Axes broadcast together. Many independent rows (1-D columns longer than CHUNK) are checked
    and estimated block by block, straight into the output columns.
    """
    wanted = check_columns(columns)
    if (acceptance is None) == (accepted_per_step is None):
        raise MagicplanError(
            "give exactly one of acceptance (α in [0, 1]) or accepted_per_step (Ω)"
        )
    is_alpha = acceptance is not None
    rate = acceptance if acceptance is not None else accepted_per_step
    assert rate is not None
    tree = np.nan if tree_tokens is None else tree_tokens
    names = ("batch", "context", "gamma", "kv_budget", RATE_NAMES[is_alpha], "tree_tokens")
    axes = tuple(
        _as_array(name, value)
        for name, value in zip(names, (batch, context, gamma, kv_budget, rate, tree), strict=True)
    )
    try:
        np.broadcast_shapes(*(x.shape for x in axes))
    except ValueError as exc:
        shapes = ", ".join(f"{name} {x.shape}" for name, x in zip(names, axes, strict=True))
        raise MagicplanError(f"the workload axes must broadcast together; got {shapes}") from exc
    n = max(x.size for x in axes)
    if n <= CHUNK or any(x.shape not in ((), (n,)) for x in axes):
        return _estimate_block(setup, *_checked(setup, axes, is_alpha), is_alpha, wanted)

    columns_out = {key: Column(n) for key in wanted}
    for i in range(0, n, CHUNK):
        rows = tuple(x if x.ndim == 0 else x[i : i + CHUNK] for x in axes)
        result = _estimate_block(setup, *_checked(setup, rows, is_alpha), is_alpha, wanted)
        for key, value in result.items():
            columns_out[key].write(i, value)
    return {key: col.array() for key, col in columns_out.items()}


RATE_NAMES = {True: "acceptance", False: "accepted_per_step"}


def _as_array(name: str, value: npt.ArrayLike) -> Array:
    try:
        return np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged lists, huge integers
        raise MagicplanError(f"{name} must be a number; got {shown(value)}") from exc


def _checked(
    setup: Setup, axes: tuple[Array, ...], is_alpha: bool
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """The workload axes (batch, context, γ, budget, rate, verified tokens) as float arrays,
    each checked (a MagicplanError names the first bad one); the rate is α in [0, 1] when
    `is_alpha`, else Ω (τ) in [1, γ + 1]. A tree drafter needs τ; it verifies `tree_tokens`
    (NaN: its default) >= γ + 1 per sequence, a chain γ + 1."""
    batch, context, gamma, kv_budget, rate, tree = axes
    b = check_positive("batch", batch)
    s = check_positive("context", context)
    g = check_positive("gamma", gamma)
    k = check_positive("kv_budget", kv_budget, allow_zero=True)
    if setup.draft_kv_method not in ("full", "none") and k.size and not k.min() > 0:
        raise MagicplanError(f"kv_budget must be > 0 for kv_method {setup.kv_method}")
    q = setup.drafter.verified(g, tree)
    if is_alpha:
        if setup.drafter.spec is not None and setup.drafter.spec.is_tree:
            raise MagicplanError(
                f"draft {setup.drafter.kind} verifies a token tree: give accepted_per_step (τ, "
                "its mean accepted length per round), not an acceptance rate α"
            )
        return b, s, g, k, check_acceptance(rate), q
    om = check_positive("accepted_per_step", rate, integer=False)
    if np.any(om < 1) or np.any(om > g + 1):
        raise MagicplanError(f"accepted_per_step must lie in [1, gamma + 1]; got {shown(rate)}")
    return b, s, g, k, om, q


def _estimate_block(
    setup: Setup,
    b: Array,
    s: Array,
    g: Array,
    k: Array,
    rate: Array,
    q: Array,
    is_alpha: bool,
    wanted: tuple[str, ...],
) -> dict[str, Array]:
    """`estimate_arrays` on validated axes that broadcast together; `rate` is α when `is_alpha`,
    else Ω (per block: α → Ω stays in cache); `q` the tokens verified per sequence."""
    rf = setup.roofline
    omega = expected_tokens(g, rate) if is_alpha else rate
    want = set(wanted)
    out: dict[str, Array | float] = {"accepted_per_step": omega}
    if want & (STEP_COLUMNS - {"accepted_per_step"}):  # Ω alone needs no step time
        drafter = setup.drafter
        ar = autoregressive_time(setup.target, rf, setup.num_gpus, b, s)
        ver = verify_tokens_time(setup.target, rf, setup.num_gpus, b, s, q)
        method = setup.kv_method if drafter.kv_cache else "full"
        kv_len, select = draft_kv_len(method, s, k, g, drafter.branch)
        dr = drafter.pass_time(setup.draft_roofline, setup.draft_n, b, kv_len, select)
        # MagicDec eq. 1-2: a round is its draft passes (γ, or one for parallel drafters), one
        # verify and the round's bookkeeping
        t_round = round_time(dr.total_s, ver.total_s, drafter.passes(g), rf.round_overhead_s)
        t_tok = spec_time_per_token(t_round, omega)
        out |= {
            "t_autoregressive_ms": ar.total_s / MS,
            "t_draft_ms": dr.total_s / MS,
            "t_verify_ms": ver.total_s / MS,
            "t_spec_per_token_ms": t_tok / MS,
            "speedup": ar.total_s / t_tok,
            "throughput_tokens_per_s": throughput_tokens_per_s(b, t_tok),
            "autoregressive_throughput_tokens_per_s": throughput_tokens_per_s(b, ar.total_s),
        }
        for step, st in zip(STEPS, (ar, dr, ver), strict=True):
            keys = {cls: f"breakdown.{step}.{cls}_ms" for cls in BREAKDOWN_CLASSES}
            if want.isdisjoint(keys.values()):
                continue  # not asked for: not worked out
            # Each class on the axes it depends on; the output broadcasts it (memory-free).
            out |= {
                keys[cls]: np.asarray(v) / MS for cls, v in st.parts.items() if keys[cls] in want
            }
    if "t_prefill_ms" in want:
        out["t_prefill_ms"] = prefill_time(setup.target, rf, setup.num_gpus, b, s).total_s / MS
    if "t_snapkv_select_ms" in want:
        out["t_snapkv_select_ms"] = (
            snapkv_select_time(setup.target, rf, setup.num_gpus, b, s) / MS
            if setup.kv_method == "snapkv"
            else 0.0
        )
    if want & set(MEMORY_COLUMNS):
        out |= _memory(setup, b, s, g, k, q, want)
    shape = np.broadcast_shapes(*(np.shape(x) for x in (b, s, g, k, omega, q)))
    return {key: _shaped(out[key], shape) for key in wanted}


def _shaped(value: Array | float, shape: tuple[int, ...]) -> Array:
    """`value` over the whole block: itself when it already has the shape, else a broadcast
    (read-only, memory-free) view."""
    v = np.asarray(value)
    return v if v.shape == shape else np.broadcast_to(v, shape)


def _memory(
    setup: Setup, b: Array, s: Array, g: Array, k: Array, q: Array, want: set[str]
) -> dict[str, Array | float]:
    """Memory per GPU by part, whether it fits, and the largest batch with and without SD."""
    t, n = setup.target, setup.num_gpus
    cap = usable_bytes(setup.hardware.memory_bytes, setup.memory_utilization)
    kw: dict[str, Any] = dict(
        draft=setup.draft, draft_num_gpus=setup.draft_n, kv_budget=k, verified=q,
        kv_method=setup.kv_method if setup.drafter.kv_cache else "full",
    )  # fmt: skip
    fixed, per_seq = memory_terms(t, n, s, g, **kw)
    total = total_bytes(fixed, per_seq, b)
    out: dict[str, Array | float] = {
        "memory_per_gpu_gb": total / GB,
        "fits_in_memory": np.asarray(total <= cap),
        "memory.weights_gb": fixed["weights"] / GB,
        "memory.draft_weights_gb": fixed["draft_weights"] / GB,
    }
    for part in ("kv", "draft_kv", "activations"):
        if f"memory.{part}_gb" in want:
            out[f"memory.{part}_gb"] = b * per_seq[part] / GB
    if "max_batch" in want:
        ar_fixed, ar_seq = memory_terms(t, n, s, g, speculative=False)
        out["max_batch"] = max_batch(cap, sum(ar_fixed.values()), sum(ar_seq.values(), 0.0))
    if "max_batch_with_sd" in want:
        out["max_batch_with_sd"] = max_batch(cap, sum(fixed.values()), sum(per_seq.values(), 0.0))
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{'breakdown.verify.kv_ms': x} → {'breakdown': {'verify': {'kv_ms': x}}}."""
    out: dict[str, Any] = {}
    for key, val in flat.items():
        node = out
        *path, leaf = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = val
    return out


def to_python(value: Any) -> Any:
    """numpy scalars and arrays → float/bool/int (nested lists for arrays) for JSON."""
    arr = np.asarray(value)
    if arr.ndim:
        return [to_python(v) for v in arr]
    if arr.dtype == bool:
        return bool(arr)
    if arr.dtype == object or arr.dtype.kind in "US":
        return arr.item()
    f = float(arr)
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return float(f"{f:.9g}")  # significant digits: a 1e-7 speedup must not print as 0


def estimate(
    hardware: HardwareLike,
    num_gpus: int,
    target: ModelLike,
    batch: npt.ArrayLike,
    context: npt.ArrayLike,
    gamma: npt.ArrayLike | None = None,
    *,
    draft: DraftLike = None,
    kv_method: KvMethod | None = None,
    kv_budget: npt.ArrayLike = 512,
    acceptance: npt.ArrayLike | None = None,
    accepted_per_step: npt.ArrayLike | None = None,
    draft_num_gpus: int | None = None,
    mode: Mode = "calibrated",
    calibration: Calibration | None = None,
    memory_utilization: float | None = None,
    engine: EngineLike | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    tree_tokens: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """One scenario → a JSON-ready dict (the `magicplan estimate --json` object).

    `hardware`, `target` and `draft` are specs, ids (a Hugging Face repo id of a shipped model
    too) or paths; `draft` None or 'self' is self-speculation, a kind keyword (eagle, eagle3,
    medusa, mtp, ngram) a drafting family. `gamma` (default: the family's draft depth, else 2)
    is the draft depth; `tree_tokens` the tokens a tree drafter verifies per sequence (default:
    its own). `kv_method` (default: streamingllm, full for a family) is the draft cache's.
    batch, context, γ, kv_budget and the rate broadcast: given arrays, every figure is a
    (nested) list over their shape. `accepted_per_step` is Ω, or τ for a tree drafter.
    `memory_utilization`: the fraction of device memory an engine may fill. `engine` (a spec,
    an id or a path; None: the hardware's own calibration, else the default engine) names how
    it is served; `weight_dtype` (awq-int4, gptq-int4, fp8, q4_k_m, ...) and `kv_dtype` (fp8,
    bfloat16, float16) its formats (`specs.quantization`; the KV format applies to the draft's
    cache too). Counts (batch, context, γ, kv_budget, tree_tokens) may be written as the CLI
    takes them: '32k', or a comma string '4k,32k' for an axis.
    """
    batch, context = count_array("batch", batch), count_array("context", context)
    gamma, kv_budget = count_array("gamma", gamma), count_array("kv_budget", kv_budget)
    tree_tokens = count_array("tree_tokens", tree_tokens)
    hw, tgt = as_hardware(hardware), served(as_model(target, "target"), weight_dtype, kv_dtype)
    runs = as_engine(engine)
    utilization = served_fraction(memory_utilization, runs, hw)
    asked = as_draft(draft)
    if isinstance(asked, DraftKindSpec) and asked.is_tree and _chain_asked(gamma, tree_tokens):
        asked, tree_tokens = asked.as_chain(), None  # γ + 1 tokens verified: the family's chain
    dr, chain_note = as_drafted(asked, runs, hw, tree_tokens)
    family = dr if isinstance(dr, DraftKindSpec) else None
    method = kv_method or ("full" if family is not None else "streamingllm")
    gamma = gamma if gamma is not None else (family.depth if family is not None else 2)
    dr = dr if not isinstance(dr, ModelSpec) else served(dr, None, kv_dtype or tgt.kv_dtype)
    setup = Setup(
        hardware=hw, num_gpus=num_gpus, target=tgt, draft=dr, kv_method=method,
        draft_num_gpus=draft_num_gpus, mode=mode, calibration=calibration,
        memory_utilization=utilization, engine=runs,
    )  # fmt: skip
    flat = estimate_arrays(
        setup, batch, context, gamma, kv_budget, acceptance=acceptance,
        accepted_per_step=accepted_per_step, tree_tokens=tree_tokens,
    )  # fmt: skip
    out = nest({key: to_python(v) for key, v in flat.items()})
    drafted = setup.draft_kv_method
    g = check_positive("gamma", gamma)
    header = {
        "hardware": hw.id,
        "engine": setup.engine_id,
        "num_gpus": num_gpus,
        "target": tgt.id,
        "draft_model": dr.id if dr else "self",
        "draft_kind": setup.drafter.kind,
        "kv_method": drafted,
        "kv_budget": 0 if drafted in ("full", "none") else to_python(kv_budget),  # no budget
        "draft_num_gpus": setup.draft_n,
        "batch": to_python(batch),
        "context": to_python(context),
        "gamma": to_python(gamma),
        "tree_tokens": to_python(
            setup.drafter.verified(g, np.nan if tree_tokens is None else tree_tokens)
        ),
        "draft_passes": to_python(setup.drafter.passes(g)),
        "mode": mode,
        "memory_utilization": utilization,
        "bottleneck": bottleneck(flat),
    }
    notes = [n for n in (chain_note,) if n] + engine_notes(setup, header)
    notes += workload_notes(setup, flat, kv_budget, context)
    return header | out | {"notes": notes}


def _chain_asked(gamma: npt.ArrayLike | None, tree_tokens: npt.ArrayLike | None) -> bool:
    """Whether `tree_tokens` asks a tree family for its chain: γ + 1 tokens at every point."""
    if gamma is None or tree_tokens is None:
        return False
    g, t = np.asarray(gamma, dtype=float), np.asarray(tree_tokens, dtype=float)
    try:
        return bool(np.all(t == g + 1))
    except ValueError:  # axes that do not broadcast: `estimate_arrays` names them
        return False


def bottleneck(flat: dict[str, Any]) -> Any:
    """The class that takes the largest share of the AR step ('kv', 'weights', 'compute', ...),
    per point when the workload axes are arrays."""
    prefix = "breakdown.autoregressive."
    keys = [k for k in flat if k.startswith(prefix)]
    parts = np.broadcast_arrays(*(np.asarray(flat[k]) for k in keys))
    names = np.array([k.removeprefix(prefix).removesuffix("_ms") for k in keys])
    return to_python(names[np.argmax(np.stack(parts), axis=0)])
