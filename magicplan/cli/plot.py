"""`magicplan plot KIND`: speedup, breakdown, pareto, gamma-map or validation figure to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from magicplan.cli._app import app
from magicplan.cli._options import (
    KV_METHOD_CHOICES,
    MODE_CHOICES,
    Engine,
    KvDtype,
    MemoryUtilization,
    ModelOpt,
    WeightDtype,
    check_mode,
    count,
    one,
)
from magicplan.counts import EXAMPLE
from magicplan.errors import MagicplanError

KINDS_HELP = "speedup | breakdown | pareto | gamma-map | validation | families"


@app.command("plot")
def plot_command(
    kind: Annotated[str, typer.Argument(help=KINDS_HELP)],
    output: Annotated[Path, typer.Option(help="Figure file: .png, .svg or .pdf.")],
    hardware: Annotated[str | None, typer.Option(help="Hardware id or profile path.")] = None,
    num_gpus: Annotated[int, typer.Option(help="Tensor-parallel degree of the target.")] = 1,
    model: ModelOpt = None,
    draft: Annotated[
        str | None,
        typer.Option(
            "--draft",
            "--drafts",
            help="'self' or a draft id/path (speedup, breakdown: default self; "
            "pareto, gamma-map: default every draft the planner knows).",
        ),
    ] = None,
    kv_method: Annotated[
        str | None,
        typer.Option(
            "--kv-method",
            "--kv-methods",
            help=f"One of {KV_METHOD_CHOICES} (default streamingllm; pareto, gamma-map: all).",
        ),
    ] = None,
    kv_budget: Annotated[
        str | None,
        typer.Option(
            "--kv-budget",
            "--kv-budgets",
            help="Draft KV budget in tokens (default 512; pareto, gamma-map: all).",
        ),
    ] = None,
    acceptance: Annotated[
        float | None,
        typer.Option(help="Per-token acceptance α in [0, 1] (default: published measurements)."),
    ] = None,
    batches: Annotated[
        str | None, typer.Option(help="Batch sizes, comma-separated (e.g. 1,8,64).")
    ] = None,
    contexts: Annotated[
        str | None, typer.Option(help="Context lengths, comma-separated (e.g. 4k,32k).")
    ] = None,
    context: Annotated[
        str, typer.Option(help=f"Context length for breakdown and pareto ({EXAMPLE}).")
    ] = "32768",
    gamma: Annotated[
        int | None,
        typer.Option("--gamma", "--gammas", help="Fix γ (default: the best per point)."),
    ] = None,
    draft_num_gpus: Annotated[
        int | None, typer.Option(help="Draft TP degree (<= num-gpus).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help=f"One of {MODE_CHOICES} (ideal: peaks, no overheads; speedup, breakdown)."
        ),
    ] = "calibrated",
    measurements: Annotated[
        Path | None,
        typer.Option(help="validation: `magicplan validate` .json or measured-steps .csv."),
    ] = None,
    engine: Engine = None,
    weight_dtype: WeightDtype = None,
    kv_dtype: KvDtype = None,
    memory_utilization: MemoryUtilization = None,
) -> None:
    """Draw one figure (title states hardware, model, draft and acceptance) into --output."""
    from magicplan.plots.kinds import check_kind, plot_to_file
    from magicplan.plots.render import check_output

    check_kind(kind)
    check_output(output)
    one(draft, "draft", "plot")
    one(kv_method, "kv-method", "plot")
    one(kv_budget, "kv-budget", "plot")
    opts = dict(
        hardware=hardware,
        num_gpus=num_gpus,
        model=model,
        draft=draft,
        kv_method=kv_method,
        kv_budget=count(kv_budget, "kv-budget"),
        acceptance=acceptance,
        batches=batches,
        contexts=contexts,
        draft_num_gpus=draft_num_gpus,
        mode=mode,
        engine=engine,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        memory_utilization=memory_utilization,
    )
    if gamma is not None and gamma < 1:
        raise MagicplanError(f"gamma must be an integer >= 1; got {gamma}")
    sc = None if kind == "validation" else _scenario(kind, opts)
    search = _search(sc, opts, gamma) if kind in ("pareto", "gamma-map") else None
    ctx = count(context, "context")
    path = plot_to_file(kind, output, sc, ctx, gamma, measurements, hardware, search, engine)
    typer.echo(f"wrote {path}")


def _scenario(kind: str, opts: dict[str, Any]) -> Any:
    """The Scenario the options describe (hardware and model are required here)."""
    from magicplan.plots.kinds import with_defaults
    from magicplan.plots.scenario import DEFAULT_BATCHES, DEFAULT_CONTEXTS, Scenario, parse_ints
    from magicplan.setup import Setup, as_drafted, served_fraction
    from magicplan.specs import load_hardware, load_model
    from magicplan.specs.model import ModelSpec
    from magicplan.specs.quantization import served
    from magicplan.specs.registry import as_draft, as_engine

    for name in ("hardware", "model"):
        if opts[name] is None:
            raise MagicplanError(f"--{name} is required for the {kind} plot")
    check_mode(opts["mode"])
    if opts["mode"] == "ideal" and kind in ("pareto", "gamma-map"):
        raise MagicplanError(f"mode ideal applies to speedup and breakdown, not {kind}")
    draft, hardware = opts["draft"], load_hardware(opts["hardware"])
    engine = as_engine(opts["engine"])
    asked = None if draft in (None, "self") or kind == "families" else as_draft(draft)
    target = served(load_model(opts["model"]), opts["weight_dtype"], opts["kv_dtype"])
    drafted = as_drafted(asked, engine, hardware)[0]  # a tree family as the engine drafts it
    if isinstance(drafted, ModelSpec):  # its cache in the target's KV format
        drafted = served(drafted, None, opts["kv_dtype"] or target.kv_dtype)
    setup = Setup(
        hardware=hardware,
        num_gpus=opts["num_gpus"],
        target=target,
        draft=drafted,
        kv_method=opts["kv_method"] or "streamingllm",
        draft_num_gpus=opts["draft_num_gpus"],
        mode=opts["mode"],
        engine=engine,
        memory_utilization=served_fraction(opts["memory_utilization"], engine, hardware),
    )
    b, c = opts["batches"], opts["contexts"]
    budget = opts["kv_budget"]
    sc = Scenario(
        setup,
        (0 if setup.kv_method == "full" else 512) if budget is None else budget,
        opts["acceptance"],
        DEFAULT_BATCHES if b is None else parse_ints("batches", b),
        DEFAULT_CONTEXTS if c is None else parse_ints("contexts", c),
    )
    return with_defaults(kind, sc, b is not None, c is not None)


def _search(sc: Any, opts: dict[str, Any], gamma: int | None) -> Any:
    """What the planner may choose from: only what the user named, else everything."""
    from magicplan.plots.planning import Search

    s = sc.setup
    return Search(
        drafts=None if opts["draft"] is None else (s.draft,),
        kv_methods=None if opts["kv_method"] is None else (s.kv_method,),
        kv_budgets=None if opts["kv_budget"] is None else (opts["kv_budget"],),
        gammas=None if gamma is None else (gamma,),
        draft_num_gpus=None if opts["draft_num_gpus"] is None else (opts["draft_num_gpus"],),
    )
