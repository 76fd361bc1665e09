"""`magicplan acceptance measure|check`: acceptance rates from real weights (optional extra
`acceptance`; torch and transformers are imported inside the commands only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from magicplan.cli._app import app
from magicplan.cli._output import console, echo_json, table
from magicplan.cli.plan import split_list
from magicplan.errors import MagicplanError

acceptance_app = typer.Typer(
    no_args_is_help=True, help="Acceptance rates measured from real weights, and checked."
)
app.add_typer(acceptance_app, name="acceptance")

ModelOpt = Annotated[str, typer.Option(help="Hugging Face checkpoint folder or .gguf file.")]
DraftOpt = Annotated[str, typer.Option(help="self (the target over a compressed cache) or a path.")]
TextOpt = Annotated[Path, typer.Option(help="Plain text the prompts are cut from.")]
DeviceOpt = Annotated[str, typer.Option(help="cpu or cuda.")]
DtypeOpt = Annotated[str, typer.Option(help="Compute dtype: bfloat16 or float32.")]
TempOpt = Annotated[float, typer.Option(help="0: greedy agreement; > 0: speculative sampling.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _needs_torch() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MagicplanError(
            f"acceptance needs the acceptance extra (pip install torch==2.13.0 && pip install "
            f"'magicplan[acceptance]'); missing: {exc.name}"
        ) from exc


@acceptance_app.command("measure")
def measure_command(
    model: ModelOpt,
    text: TextOpt,
    output: Annotated[Path, typer.Option(help="Acceptance table CSV to write.")],
    draft: DraftOpt = "self",
    kv_methods: Annotated[
        str, typer.Option(help="Comma list of streamingllm,snapkv,topk,full.")
    ] = "streamingllm,snapkv",
    kv_budgets: Annotated[str, typer.Option(help="Comma list of draft KV budgets.")] = "64,128,256",
    contexts: Annotated[str, typer.Option(help="Comma list of prompt lengths.")] = "512,1024,2048",
    samples: Annotated[int, typer.Option(help="Prompts per context.")] = 4,
    continuation: Annotated[
        int, typer.Option(help="Tokens the target generates per prompt.")
    ] = 128,
    positions: Annotated[int, typer.Option(help="Per-position rates α_1..α_G to add.")] = 0,
    temperature: TempOpt = 0.0,
    device: DeviceOpt = "cpu",
    dtype: DtypeOpt = "bfloat16",
    seed: Annotated[int, typer.Option(help="Seed of the sampled continuations.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Measure acceptance of a compressed-KV draft against its target on a text; write a table
    for `plan --acceptance-table`."""
    from magicplan.acceptance.measure import Plan

    plan = Plan(
        methods=tuple(split_list(kv_methods, "kv-methods") or ()),
        budgets=tuple(split_list(kv_budgets, "kv-budgets", int) or ()),
        contexts=tuple(split_list(contexts, "contexts", int) or ()),
        samples=samples, continuation=continuation, temperature=temperature, positions=positions,
    )  # fmt: skip
    _needs_torch()
    from magicplan.acceptance.run import measure

    report = measure(model, draft, text, plan, device=device, dtype=dtype, seed=seed,
                     output=output, progress=not json_out)  # fmt: skip
    if json_out:
        echo_json(report)
        return
    rows = [
        [r["method"], r["budget"] or "all", r["context"], f"{r['alpha']:.3f}",
         f"{r['low']:.3f}-{r['high']:.3f}", r["positions"]]
        for r in report["rows"]
    ]  # fmt: skip
    con = console()
    con.print(table(f"Acceptance of {report['draft']} drafts for {report['target']} "
                    f"(T = {temperature:g})", ["method", "budget", "context", "α", "95 %", "n"],
                    rows))  # fmt: skip
    con.print(f"wrote {output} in {report['wall_s']:.0f} s")


@acceptance_app.command("check")
def check_command(
    model: ModelOpt,
    table_path: Annotated[Path, typer.Option("--table", help="Table from `acceptance measure`.")],
    kv_method: Annotated[str, typer.Option(help="streamingllm, snapkv, topk or full.")],
    kv_budget: Annotated[int, typer.Option(help="Draft KV budget (tokens).")],
    context: Annotated[int, typer.Option(help="Prompt length (a context of the table).")],
    gamma: Annotated[int, typer.Option(help="Drafted tokens per round.")],
    temperature: TempOpt = 0.0,
    text: Annotated[
        Path | None, typer.Option(help="Text (default: the one the table was measured on).")
    ] = None,
    draft: DraftOpt = "self",
    samples: Annotated[int | None, typer.Option(help="Prompts (default: the table's).")] = None,
    continuation: Annotated[
        int | None, typer.Option(help="Tokens per prompt (default: the table's).")
    ] = None,
    device: DeviceOpt = "cpu",
    dtype: DtypeOpt = "bfloat16",
    seed: Annotated[int, typer.Option(help="Seed of the sampling draws.")] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Run real speculative decoding and compare accepted tokens per round with the table's Ω."""
    _needs_torch()
    from magicplan.acceptance.run import check

    r = check(model, table_path, text, method=kv_method, budget=kv_budget, context=context,
              gamma=gamma, temperature=temperature, draft=draft, samples=samples,
              continuation=continuation, device=device, dtype=dtype, seed=seed,
              progress=not json_out)  # fmt: skip
    if json_out:
        echo_json(r)
        return
    console().print(
        f"{r['method']} budget {r['budget']}, context {r['context']}, γ {gamma}, "
        f"T {temperature:g}: measured {r['measured_accepted_per_step']:.3f} tokens/round over "
        f"{r['rounds']} rounds, predicted {r['predicted_accepted_per_step']:.3f} "
        f"(from {r['predicted_from']}): error {100 * r['relative_error']:+.1f} %"
    )
