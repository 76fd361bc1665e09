"""The drafting families on the command line (issue 14's contract): `--draft` (and `--drafts`,
and the scenarios column `draft_model`) takes self, a model or a kind keyword; `--tree-tokens N`
sets the verified tokens; `--accepted-per-step` takes τ for any kind; `plot families`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magicplan.cli import app

runner = CliRunner()
ONE = ["--hardware", "a100-80gb-sxm", "--model", "vicuna-7b", "--batch", "1", "--context", "512"]


def run(*args: str) -> dict:  # type: ignore[type-arg]
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.output)  # type: ignore[no-any-return]


def test_estimate_takes_a_kind_tree_tokens_and_tau() -> None:
    # EAGLE-1's static tree (26 tokens, depth 5) with its published τ on MT-bench (3.94)
    r = run("estimate", *ONE, "--draft", "eagle", "--tree-tokens", "26", "--gamma", "5",
            "--accepted-per-step", "3.94", "--engine", "hf-transformers", "--json")  # fmt: skip
    assert (r["draft_kind"], r["tree_tokens"], r["draft_passes"], r["kv_method"]) == (
        "eagle", 26, 5, "full",
    )  # fmt: skip
    assert r["accepted_per_step"] == 3.94 and r["speedup"] > 1
    medusa = run("estimate", *ONE, "--drafts", "medusa", "--accepted-per-step", "2.5",
                 "--engine", "trtllm", "--json")  # fmt: skip
    assert (medusa["gamma"], medusa["tree_tokens"], medusa["kv_method"]) == (5, 64, "none")
    # The default engine (vLLM) verifies no trees: Medusa's heads draft a chain of γ tokens.
    chain = run("estimate", *ONE, "--drafts", "medusa", "--accepted-per-step", "2.5", "--json")
    assert (chain["engine"], chain["gamma"], chain["tree_tokens"]) == ("vllm", 5, 6)
    assert chain["notes"][0].startswith("vllm verifies no token trees: medusa drafts a chain")


def test_tree_input_mistakes_are_one_line() -> None:
    tree = ["--engine", "sglang"]  # an engine that verifies EAGLE's tree
    r = runner.invoke(app, ["estimate", *ONE, "--draft", "eagle", "--acceptance", "0.8", *tree])
    assert r.exit_code == 2 and "accepted_per_step (τ" in r.output
    # vLLM drafts EAGLE as a chain: α applies there; a tree's token count does not.
    assert run("estimate", *ONE, "--draft", "eagle", "--acceptance", "0.8", "--engine", "vllm",
               "--json")["tree_tokens"] == 7  # γ = 6 (EAGLE's depth) + 1  # fmt: skip
    r = runner.invoke(app, ["estimate", *ONE, "--draft", "eagle", "--tree-tokens", "26",
                            "--accepted-per-step", "3", "--engine", "vllm"])  # fmt: skip
    assert r.exit_code == 2 and "tree_tokens: engine vllm verifies no token trees" in r.output
    r = runner.invoke(app, ["estimate", *ONE, "--draft", "ngram", "--tree-tokens", "20",
                            "--acceptance", "0.5"])  # fmt: skip
    assert r.exit_code == 2 and "tree_tokens applies to tree drafters" in r.output
    r = runner.invoke(app, ["estimate", *ONE, "--draft", "eagle", "--tree-tokens", "4",
                            "--accepted-per-step", "2", *tree])  # fmt: skip
    assert r.exit_code == 2 and "at least gamma + 1" in r.output
    r = runner.invoke(app, ["estimate", *ONE, "--draft", "hydra", "--acceptance", "0.5"])
    assert r.exit_code == 2 and "hydra" in r.output


def test_plan_shows_the_kind_and_compares_families() -> None:
    r = run("plan", *ONE, "--draft", "eagle,medusa,ngram", "--engine", "hf-transformers",
            "--json")  # fmt: skip
    assert r["best"]["draft_kind"] == "eagle"
    assert [f["draft_kind"] for f in r["families"]] == ["eagle", "medusa", "ngram"]
    assert "EAGLE draft head" in r["recommendation"]
    table = runner.invoke(app, ["plan", *ONE, "--draft", "eagle,ngram", "--engine",
                                "hf-transformers"])  # fmt: skip
    assert table.exit_code == 0 and "eagle" in table.output and "ngram" in table.output
    out = " ".join(table.output.split())  # the table wraps at the console's width
    assert "α/τ" in out and "acceptance from:" in out  # τ where a family was planned
    tau = run("plan", *ONE, "--draft", "eagle", "--accepted-per-step", "4.5", "--tree-tokens",
              "40", "--engine", "hf-transformers", "--json")  # fmt: skip
    assert (tau["best"]["accepted_per_step"], tau["best"]["tree_tokens"]) == (4.5, 40)


def test_scenarios_column_draft_model_takes_kinds(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text(
        "gpu,num_gpus,target,draft_model,kv_method,kv_budget,context,batch,gamma,tree_tokens,"
        "accepted_per_step,engine\n"
        "a100-80gb-sxm,1,vicuna-7b,eagle,full,0,512,1,6,60,4.98,hf-transformers\n"
        "a100-80gb-sxm,1,vicuna-7b,medusa,none,0,512,1,5,,2.52,hf-transformers\n"
    )
    rows = run("estimate", "--scenarios", str(p), "--json")
    assert [r["tree_tokens"] for r in rows] == [60, None]
    assert all(r["speedup"] > 1 for r in rows)
    planned = run("plan", "--scenarios", str(p))
    assert [r["best"]["draft_kind"] for r in planned] == ["eagle", "medusa"]


def test_plot_families_writes_a_figure(tmp_path: Path) -> None:
    out = tmp_path / "families.png"
    r = runner.invoke(app, ["plot", "families", "--hardware", "h100-sxm", "--model",
                            "llama-3.1-8b", "--batches", "1,16", "--contexts", "1k,16k",
                            "--output", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 10_000


def test_the_plan_table_shows_each_rows_own_tau() -> None:
    # A chain's τ (3.53 at γ = 7) carried to each row's γ: 3.4 at γ = 6, not 3.53 on every row.
    r = runner.invoke(app, ["plan", "--hardware", "h100-sxm", "--num-gpus", "8", "--model",
                            "llama-3.1-8b", "--batch", "64", "--context", "32000", "--drafts",
                            "eagle3", "--gammas", "6,7", "--engine", "vllm"],
                      env={"COLUMNS": "160"})  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = {ln.split("│")[2].strip(): ln.split("│")[3].strip()
            for ln in r.output.splitlines() if ln.startswith("│ eagle3")}  # fmt: skip
    assert rows == {"6": "τ 3.4", "7": "τ 3.53"}


def test_estimate_prices_a_tree_familys_chain_where_trees_are_verified() -> None:
    # γ + 1 verified tokens ask for the family's chain (SGLang's top-k 1): α applies, and the
    # price is the plan's chain candidate's.
    args = ["--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--batch", "8", "--context",
            "4000", "--engine", "sglang", "--draft", "eagle3", "--gamma", "7",
            "--tree-tokens", "8"]  # fmt: skip
    r = run("estimate", *args, "--acceptance", "0.8", "--json")
    omega = (1 - 0.8**8) / (1 - 0.8)  # Ω(γ = 7, α = 0.8) = 4.16
    assert r["tree_tokens"] == 8 and r["accepted_per_step"] == pytest.approx(omega, rel=1e-6)
    tau = run("estimate", *args, "--accepted-per-step", "3.53", "--json")
    from magicplan.planner import plan

    p = plan("h100-sxm", 1, "llama-3.1-8b", 8, 4000, engine="sglang", drafts=["eagle3"],
             gammas=[7], top=50)  # fmt: skip
    (chain,) = [c for c in p["candidates"] if c.get("tree_tokens") == 8]
    assert tau["speedup"] == pytest.approx(chain["speedup"], rel=1e-6)
