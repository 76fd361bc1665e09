"""The optimizer: AR always a candidate, never slower than AR, monotone in acceptance, and the
paper's table-6 choices (8×H100, Llama-3.1-8B) given the measured acceptance."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from scipy.optimize import brentq

import magicplan
from magicplan.cost.speculative import expected_tokens
from magicplan.errors import MagicplanError
from magicplan.planner import plan
from magicplan.specs import load_hardware, load_model

REFERENCE = Path(magicplan.__file__).parent / "data" / "magicdec_measured_steps.csv"


@pytest.fixture(scope="module")
def h100() -> object:
    return load_hardware("h100-sxm")


@pytest.fixture(scope="module")
def llama8b() -> object:
    return load_model("llama-3.1-8b")


def test_ar_is_always_present_and_best_is_never_slower(h100: object, llama8b: object) -> None:
    for batch, context in ((1, 512), (64, 32000), (256, 1024)):
        r = plan(h100, 8, llama8b, batch, context)  # type: ignore[arg-type]
        assert r["autoregressive"]["draft_model"] == "none"
        assert r["best"]["t_spec_per_token_ms"] <= r["autoregressive"]["t_spec_per_token_ms"] + 1e-9
        assert r["best"]["speedup"] >= 1.0


def test_short_context_small_batch_prefers_ar(h100: object, llama8b: object) -> None:
    r = plan(h100, 8, llama8b, 1, 256, drafts=[None])  # type: ignore[arg-type]
    assert r["best"]["draft_model"] == "none"
    assert "Do not speculate" in r["recommendation"]


def test_more_acceptance_never_lowers_best_speedup(h100: object, llama8b: object) -> None:
    speedups = [
        plan(h100, 8, llama8b, 64, 16000, acceptance=a)["best"]["speedup"]  # type: ignore[arg-type]
        for a in (0.3, 0.5, 0.7, 0.8, 0.9, 0.99)
    ]
    assert speedups == sorted(speedups)


def test_slo_objective_respects_the_slo(h100: object, llama8b: object) -> None:
    r = plan(h100, 8, llama8b, 256, 8000, slo_ms=12.0)  # type: ignore[arg-type]
    assert r["objective"] == "max_throughput_under_slo"
    assert r["best"]["t_spec_per_token_ms"] <= 12.0
    assert r["batch"] <= 256


def test_nothing_fits_is_said(h100: object) -> None:
    r = plan(h100, 1, load_model("llama-3.1-70b"), 64, 100000)  # type: ignore[arg-type]
    assert r["best"] is None and any("fits" in n for n in r["notes"])


def test_vocab_mismatch(h100: object, llama8b: object) -> None:
    with pytest.raises(MagicplanError, match="vocab"):
        plan(h100, 8, llama8b, 8, 8000, drafts=[load_model("tinyllama-1.1b")])  # type: ignore[arg-type]


def test_table6_gamma_and_speedup_match_the_paper(h100: object, llama8b: object) -> None:
    with REFERENCE.open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"].endswith("table 6")]
    assert len(rows) == 12
    exact = 0
    for r in rows:
        g, omega = int(r["gamma"]), float(r["accepted_per_step"])
        alpha = brentq(
            lambda a, g=g, omega=omega: float(expected_tokens(g, a)) - omega, 1e-6, 1 - 1e-9
        )
        draft = None if r["draft_model"] == "self" else load_model(r["draft_model"])
        best = plan(
            h100,
            8,
            llama8b,
            int(r["batch"]),
            int(r["context"]),
            drafts=[draft],  # type: ignore[arg-type]
            kv_methods=[r["kv_method"]],
            kv_budgets=[int(r["kv_budget"])],
            acceptance=alpha,
            draft_num_gpus=[8],
        )["best"]
        assert abs(best["gamma"] - g) <= 1, r["id"]
        assert best["speedup"] == pytest.approx(float(r["speedup"]), rel=0.05), r["id"]
        exact += best["gamma"] == g
    assert exact >= 6
