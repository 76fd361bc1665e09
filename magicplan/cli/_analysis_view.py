"""How critical-length, break-even and sweep answers read on a terminal: the answer, the
strategy it belongs to, and the notes."""

from __future__ import annotations

from typing import Any

from magicplan.cli._output import console


def strategy_label(strategy: dict[str, Any]) -> str:
    """'draft llama-3.2-1b, streamingllm KV budget 512, γ=3, draft TP 8' for a `strategy`."""
    from magicplan.planner.records import Strategy

    s = Strategy(**strategy)
    return s.label() + ("" if s.draft_model == "self" else f", draft TP {s.draft_num_gpus}")


def print_critical(r: dict[str, Any]) -> None:
    """Both critical lengths (break-even, and where speedup rises with batch) and whose."""
    crit, infl = r["critical_context"], r["inflection_context"]
    con = console()
    found = f"[bold]{crit:,}[/bold] tokens" if crit else f"none ({r['note']})"
    if crit and r["note"]:  # it pays from the smallest context searched: no break-even
        found = f"none: {r['note']}"
    con.print(f"critical (break-even) context at batch {r['batch']}: " + found)
    if r["strategy"] is not None:
        lo, hi = r["inflection_batches"]
        con.print(f"strategy: {strategy_label(r['strategy'])}")
        con.print(
            f"inflection context (speedup rises with batch, {lo} → {hi}): "
            + (f"[bold]{infl:,}[/bold] tokens" if infl else "none up to the limit searched")
        )
    _notes(r["warnings"])


def print_break_even(r: dict[str, Any]) -> None:
    """The break-even α and the strategy that reaches it."""
    a = r["break_even_acceptance"]
    console().print(
        f"break-even acceptance for {r['target_speedup']}×: "
        + (f"[bold]α = {a:.3f}[/bold]" if a is not None else f"none ({r['note']})")
    )
    if r["strategy"] is not None:
        console().print(f"strategy: {strategy_label(r['strategy'])}")
    _notes([*r["warnings"], *r.get("notes", [])])


def print_sweep_notes(rows: list[dict[str, Any]], hardware: str, num_gpus: int, model: str) -> None:
    """Cells that do not fit, and the physics warnings of the longest context."""
    from magicplan.physics import workload_warnings
    from magicplan.specs import load_hardware, load_model

    unfit = sum(not r["fits_in_memory"] for r in rows)
    if unfit:
        console().print(
            f"note: {unfit} of {len(rows)} cells do not fit in memory (None: no strategy)"
        )
    longest = max((r["context"] for r in rows), default=0)
    _notes(workload_warnings(load_hardware(hardware), num_gpus, load_model(model), longest))


def _notes(lines: list[str]) -> None:
    for line in lines:
        console().print(f"note: {line}")
