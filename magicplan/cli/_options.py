"""Options the predicting commands share: one declaration, one help text, and both spellings of
the strategy options on every command (`--draft`/`--drafts`, `--kv-method`/`--kv-methods`,
`--kv-budget`/`--kv-budgets`, `--gamma`/`--gammas`). Choices derive from the `Literal` types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast, get_args, overload

import typer

from magicplan.choices import Mode
from magicplan.cost.methods import KvMethod
from magicplan.counts import EXAMPLE, parse_count, parse_counts
from magicplan.errors import MagicplanError
from magicplan.specs.drafts import FamilyKind

KV_METHOD_CHOICES = ", ".join(get_args(KvMethod))
KIND_CHOICES = ", ".join(get_args(FamilyKind))
MODE_CHOICES = ", ".join(get_args(Mode))
MODEL_HELP = "id, Hugging Face repo id, profile YAML, config.json or checkpoint folder"

# --- the workload -------------------------------------------------------------------------
HardwareOpt = Annotated[str | None, typer.Option(help="Hardware id or profile path.")]
Hardware = Annotated[str, typer.Option(help="Hardware id or profile path.")]
NumGpus = Annotated[int, typer.Option(help="Tensor-parallel degree of the target.")]
ModelOpt = Annotated[str | None, typer.Option(help=f"Target model: {MODEL_HELP}.")]
Model = Annotated[str, typer.Option(help=f"Target model: {MODEL_HELP}.")]
BatchOpt = Annotated[str | None, typer.Option(help="Sequences decoded together.")]
Batch = Annotated[str, typer.Option(help="Sequences decoded together.")]
ContextOpt = Annotated[
    str | None, typer.Option(help=f"Tokens already in each KV cache ({EXAMPLE}).")
]
Context = Annotated[str, typer.Option(help=f"Tokens already in each KV cache ({EXAMPLE}).")]

# --- the strategies searched (comma lists; either spelling) ----------------------------------
Drafts = Annotated[
    str | None,
    typer.Option(
        "--drafts",
        "--draft",
        help=f"Comma list: 'self', drafting kinds ({KIND_CHOICES}) and/or draft models "
        f"({MODEL_HELP}).",
    ),
]
TreeTokens = Annotated[
    int | None,
    typer.Option(
        help="Tokens a tree drafter (eagle, eagle3, medusa) verifies per sequence (default: the "
        "kind's own; a chain verifies γ+1)."
    ),
]
AcceptedPerStep = Annotated[
    float | None,
    typer.Option(
        help="Measured mean accepted length per round (Ω, τ; bonus token included), for any "
        "draft: a tree's τ as it is, a chain's at its γ."
    ),
]
KvMethods = Annotated[
    str | None,
    typer.Option("--kv-methods", "--kv-method", help=f"Comma list of {KV_METHOD_CHOICES}."),
]
KvBudgets = Annotated[
    str | None,
    typer.Option("--kv-budgets", "--kv-budget", help="Comma list of draft KV budgets (tokens)."),
]
Gammas = Annotated[
    str | None,
    typer.Option("--gammas", "--gamma", help="Comma list of γ, tokens drafted per round."),
]
DraftGpus = Annotated[str | None, typer.Option(help="Comma list of draft TP degrees.")]
Acceptance = Annotated[str | None, typer.Option(help="α, or per-position α_1,...,α_n.")]
AcceptanceTable = Annotated[Path | None, typer.Option(help="YAML or CSV of measured α.")]
MemoryUtilization = Annotated[
    float | None,
    typer.Option(
        help="Fraction of device memory an engine may fill, in (0, 1] (default 0.9, vLLM's "
        "gpu_memory_utilization)."
    ),
]
Engine = Annotated[
    str | None,
    typer.Option(
        help="Serving engine: an id (`magicplan engines list`; default vllm) or an engine "
        "profile path (what `magicplan fit` writes)."
    ),
]
WeightDtype = Annotated[
    str | None,
    typer.Option(
        help="The target's weight format: bf16, fp16, fp8, int8, int4, gptq-int4, awq-int4, "
        "q4_0, q4_k_m, q8_0, nf4, ... (default: the checkpoint's)."
    ),
]
KvDtype = Annotated[
    str | None,
    typer.Option(help="KV-cache dtype: fp8, bfloat16, float16 (default: the model's dtype)."),
]
AnyStrategy = Annotated[
    bool,
    typer.Option(
        help="Plan every strategy, also those the engine cannot run (a compressed draft cache, "
        "self-speculation)."
    ),
]
Strict = Annotated[
    bool, typer.Option(help="With --scenarios: stop at the first bad row (exit 2) instead.")
]

# --- output ---------------------------------------------------------------------------------
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")]
Out = Annotated[Path | None, typer.Option("--output", help="Write the result here (atomically).")]


def split_list(value: str | None, name: str, cast: Any = str) -> list[Any] | None:
    """'a,b,c' → [a, b, c] (cast each); a bad item is a MagicplanError naming the flag."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise MagicplanError(f"--{name} must list at least one value")
    try:
        return [cast(v) for v in items]
    except ValueError as exc:
        raise MagicplanError(
            f"--{name}: '{value}' is not a comma-separated list of numbers"
        ) from exc


def counts(value: str | None, name: str) -> list[int] | None:
    """A comma list of counts ('512,4k') or None; a bad item names the flag."""
    return None if value is None else parse_counts(f"--{name}", value)


@overload
def count(value: str, name: str) -> int: ...
@overload
def count(value: str | None, name: str) -> int | None: ...
def count(value: str | None, name: str) -> int | None:
    """One count ('32k') or None; a bad value names the flag."""
    return None if value is None else parse_count(f"--{name}", value)


def one(value: str | None, name: str, command: str) -> str | None:
    """The single value a command evaluates: a comma list is refused, naming the flag."""
    if value is not None and "," in value:
        raise MagicplanError(
            f"--{name}: {command} evaluates one value; got '{value}' (plan, sweep, "
            "critical-length and break-even compare several)"
        )
    return value


def require_workload(**given: object) -> None:
    """Each named option is given, else a MagicplanError naming the first that is not."""
    for name, value in given.items():
        if value is None:
            raise MagicplanError(f"--{name} is required (or give --scenarios FILE.csv)")


def check_mode(mode: str) -> Mode:
    """`mode` when it is one of the `Mode` choices, else a MagicplanError naming them."""
    if mode not in get_args(Mode):
        raise MagicplanError(f"mode must be one of {MODE_CHOICES}; got '{mode}'")
    return cast(Mode, mode)
