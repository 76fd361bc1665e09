"""`magicplan capacity`: the fewest GPUs that serve a tokens/s demand at a per-token latency SLO,
with plain AR and with speculative decoding, and what speculation saves."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from magicplan.arguments import workload_arg
from magicplan.cli._app import app
from magicplan.cli._options import (
    KIND_CHOICES,
    MODEL_HELP,
    Hardware,
    Json,
    Model,
    Out,
)
from magicplan.cli._output import console, emit_json, table
from magicplan.cli.plan import CHAIN_OPTIONS, strategy_options

# capacity plans chains over a context mix: the drafts it takes (not the drafting families)
CAPACITY_OPTIONS = tuple(n for n in CHAIN_OPTIONS if n != "drafts")
Drafts = Annotated[
    str | None,
    typer.Option(
        "--drafts",
        "--draft",
        help=f"Comma list: 'self' (self-speculation) and/or draft models ({MODEL_HELP}); "
        f"default: self and every shipped smaller model with the target's tokenizer. Drafting "
        f"families ({KIND_CHOICES}) are not planned by capacity: `magicplan plan` plans them "
        "per context.",
    ),
]


@app.command("capacity")
@strategy_options(*CAPACITY_OPTIONS)
def capacity_command(
    hardware: Hardware,
    model: Model,
    tokens_per_s: Annotated[
        float, typer.Option(help="Generated tokens/s the whole service must sustain.")
    ],
    slo_ms: Annotated[float, typer.Option(help="Per-token latency each user must see (ms).")],
    workload: Annotated[
        str,
        typer.Option(
            help="Context mix CONTEXT:FRACTION[:KV_BUDGET],... (fractions sum to 1; 32k = 32000)."
        ),
    ],
    gpu_hour_usd: Annotated[
        float | None, typer.Option(help="One GPU's price per hour: adds $/hour and $/M tokens.")
    ] = None,
    max_gpus: Annotated[int, typer.Option(help="Most GPUs the answer may use.")] = 64,
    tensor_parallel: Annotated[
        str | None, typer.Option(help="Comma list of TP degrees per replica (default 1,2,4,8).")
    ] = None,
    drafts: Drafts = None,
    strategy: dict[str, Any] | None = None,
    output: Out = None,
    json_out: Json = False,
) -> None:
    """Fewest GPUs (replicas × TP) for a tokens/s demand at a latency SLO: AR vs speculation."""
    from magicplan.cli._options import counts
    from magicplan.planner.capacity import capacity
    from magicplan.specs import load_hardware, load_model

    kw = dict(strategy or {})
    result = capacity(
        load_hardware(hardware),
        load_model(model),
        tokens_per_s,
        slo_ms,
        workload_arg(workload, "--workload"),
        max_gpus=max_gpus,
        tensor_parallel=counts(tensor_parallel, "tensor-parallel"),
        gpu_hour_usd=gpu_hour_usd,
        drafts=drafts,
        **{k: v for k, v in kw.items() if v is not None},
    )
    if json_out or output:
        emit_json(result, output)
        return
    _print(result)


def _print(r: dict[str, Any]) -> None:
    cols = ["", "GPUs", "replicas × TP", "batch", "ms/token", "tok/s/GPU", "$/hour"]
    rows, lines = [], []
    for name in ("autoregressive", "speculative"):
        o = r[name]
        if o is None:
            lines.append(f"{name}: {r[f'{name}_unavailable']['text']}")
            continue
        rows.append([name, o["gpus"], f"{o['replicas']} × {o['tensor_parallel']}", o["batch"],
                     o["t_per_token_ms"], o["throughput_tokens_per_s_per_gpu"],
                     o["cost_per_hour_usd"]])  # fmt: skip
        if name == "speculative":
            lines.append(f"{name}: {_sd(o)}")
    title = (
        f"{r['target']} on {r['hardware']} ({r['engine']}): {r['tokens_per_s']:,.0f} tokens/s at "
        f"≤ {r['slo_ms']:g} ms/token"
    )
    con = console()
    if rows:
        con.print(table(title, cols, rows, whole=("",)))
    else:
        con.print(f"{title}: [bold]no configuration meets the SLO[/bold]")
    for line in lines:
        con.print(line)
    if r["gpus_saved_by_sd"] is not None:
        con.print(f"speculation saves [bold]{r['gpus_saved_by_sd']}[/bold] GPUs")
    for w in [*r["warnings"], *r["notes"]]:
        con.print(f"note: {w}")


def _sd(o: dict[str, Any]) -> str:
    from magicplan.planner.records import Strategy

    a = o["acceptance"]
    alpha = f"{a:.3g}" if isinstance(a, float) else ", ".join(f"{x:.3g}" for x in a)
    return f"{Strategy.of(o).label()}, α {alpha}"
