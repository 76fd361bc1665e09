"""How a plan reads on a terminal: a ranked table, one line of why, one sentence."""

from __future__ import annotations

from typing import Any

from magicplan.cli._output import console, fmt, table
from magicplan.planner.records import verifies_tree


def _strategy(c: dict[str, Any]) -> str:
    if c["draft_model"] == "none":
        return "autoregressive"
    kind = c.get("draft_kind", "draft_model")
    if kind not in ("self", "draft_model"):  # a drafting family: its tree, or its chain
        draft = f"{kind} ({c['tree_tokens']}-token tree)" if verifies_tree(c) else kind
    else:
        draft = "self" if kind == "self" else f"{c['draft_model']} TP{c['draft_num_gpus']}"
    if c["kv_method"] == "none":  # no draft cache (Medusa heads, n-gram lookup)
        return draft
    kv = "full KV" if c["kv_method"] == "full" else f"{c['kv_method']} {c['kv_budget']}"
    return f"{draft}, {kv}"


def _acceptance(c: dict[str, Any]) -> Any:
    """α for a chain, `τ x` where the input was a mean accepted length: the row's own (a chain's
    τ, measured at one γ, carried to this row's γ)."""
    if c.get("acceptance_input") != "tau":
        return c["acceptance"]
    return f"τ {fmt(c['accepted_per_step'])}"


def _money(c: dict[str, Any]) -> str:
    per_gpu = fmt(c["throughput_tokens_per_s_per_gpu"])
    if c["usd_per_million_tokens"] is None:
        return per_gpu
    return f"{per_gpu} (${c['usd_per_million_tokens']:.2f}/M)"


def _speedup(c: dict[str, Any]) -> str:
    lo_hi = c.get("speedup_interval")
    return fmt(c["speedup"]) + (f" [{lo_hi[0]:.2f}–{lo_hi[1]:.2f}]" if lo_hi else "")


def print_plan(r: dict[str, Any]) -> None:
    """The ranked candidates, why the best wins, the recommendation and the notes."""
    rows = [
        [_strategy(c), c["gamma"], _acceptance(c), _speedup(c), c["t_spec_per_token_ms"],
         c["throughput_tokens_per_s"], _money(c), c["memory_per_gpu_gb"]]
        for c in r["candidates"]
    ]  # fmt: skip
    cols = ["strategy", "γ", "α/τ", "speedup", "ms/token", "tokens/s", "tok/s/GPU", "GB/GPU"]
    title = (
        f"{r['target']} on {r['num_gpus']}× {r['hardware']} ({r.get('engine', 'vllm')}), batch "
        f"{r['batch']}, context {r['context']} ({r['candidates_evaluated']} strategies)"
    )
    con = console()
    if rows:
        con.print(table(title, cols, rows, whole=("strategy",)))
    else:  # no empty table: say that nothing qualifies
        con.print(f"{title}: [bold]no strategy qualifies[/bold]")
    sources = sorted(
        {c["acceptance_source"] for c in r["candidates"] if c["draft_model"] != "none"}
    )
    if sources:
        taus = any(c.get("acceptance_input") == "tau" for c in r["candidates"])
        con.print(f"{'acceptance' if taus else 'α'} from: {'; '.join(sources)}")
    best = r["best"]
    if best is not None:
        con.print(f"why: {_why_line(best)}")
    con.print(f"[bold]{r['recommendation']}[/bold]")
    for note in r["notes"]:
        con.print(f"note: {note}")


def _shares(fractions: dict[str, float]) -> str:
    top = sorted(fractions.items(), key=lambda kv: -kv[1])[:3]
    return ", ".join(f"{k} {100 * v:.0f} %" for k, v in top if v)


def _why_line(best: dict[str, Any]) -> str:
    """One line: where the time goes and the cost ratios behind the speedup."""
    w = best["why"]
    ar = f"the AR step is {_shares(w['autoregressive_fractions'])}"
    if best["draft_model"] == "none":
        return ar
    rf = w["round_fractions"]
    return (
        f"{ar}; a round is draft {100 * rf['draft']:.0f} %, verify {100 * rf['verify']:.0f} %; "
        f"T_D/T_T {fmt(w['draft_to_target_ratio'])}, T_V/T_T {fmt(w['verify_to_target_ratio'])}, "
        f"{fmt(best['accepted_per_step'])} tokens per round"
    )
