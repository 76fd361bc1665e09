"""The planner's intermediate records are frozen dataclasses (issue 16 item 2), its round is
`cost.speculative.round_time`, and a batch array gives, batch by batch, what a scalar batch
gives (the one-pass batch searches rest on it)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from magicplan.cost.speculative import round_time
from magicplan.planner.evaluation import baseline, block, drafts_of, evaluate
from magicplan.planner.inputs import plan_inputs
from magicplan.planner.records import Baseline, Block, Candidates, Evaluation
from magicplan.planner.report import candidate_rows
from magicplan.specs import load_hardware, load_model


@pytest.fixture(scope="module")
def inp() -> Any:
    hw, target = load_hardware("h100-sxm"), load_model("llama-3.1-8b")
    return plan_inputs(
        hw, 8, target, 32, 16000, drafts=[None, load_model("llama-3.2-1b")], engine="magicdec"
    )


def test_records_are_frozen_dataclasses(inp: Any) -> None:
    ev = evaluate(inp)
    rows = candidate_rows(inp, ev)
    assert isinstance(ev, Evaluation) and isinstance(ev.baseline, Baseline)
    assert isinstance(rows, Candidates) and all(isinstance(b, Block) for b in ev.blocks)
    for rec in (ev, ev.baseline, ev.blocks[0], rows):
        with pytest.raises(dataclasses.FrozenInstanceError):
            rec.blocks = ()  # type: ignore[misc]


def test_the_round_is_round_time(inp: Any) -> None:
    ev = evaluate(inp)
    rf, g = ev.baseline.roofline, np.array(inp.gammas, float)
    for blk in ev.blocks:
        # γ·T_D + T_V + round overhead, then over Ω (MagicDec eq. 1–2)
        want = g * blk.grid.t_draft_s + ev.baseline.t_verify_s + rf.round_overhead_s
        np.testing.assert_allclose(blk.t_round_s, want, rtol=1e-12)
        np.testing.assert_allclose(
            blk.t_round_s, round_time(blk.grid.t_draft_s, ev.baseline.t_verify_s, g,
                                      rf.round_overhead_s), rtol=0
        )  # fmt: skip
        np.testing.assert_allclose(blk.t_token_s, blk.t_round_s / blk.draft.omega, rtol=0)


def test_a_batch_axis_equals_batch_by_batch(inp: Any) -> None:
    batches = np.array([1.0, 7.0, 32.0, 93.0])
    axis = batches[:, None, None, None]
    base = baseline(inp, axis)
    for d in drafts_of(inp):
        many = block(inp, base.roofline, base.t_verify_s, d, axis)
        for i, b in enumerate(batches):
            one_base = baseline(dataclasses.replace(inp, batch=int(b)))
            one = block(dataclasses.replace(inp, batch=int(b)), one_base.roofline,
                        one_base.t_verify_s, d)  # fmt: skip
            np.testing.assert_allclose(many.t_round_s[i], one.t_round_s, rtol=1e-12)
            np.testing.assert_allclose(many.grid.memory_bytes[i], one.grid.memory_bytes, rtol=1e-12)
            for cls, val in one.grid.breakdown.items():
                np.testing.assert_allclose(many.grid.breakdown[cls][i], val, rtol=1e-12, atol=1e-18)
            assert float(base.t_ar_s.reshape(-1)[i]) == pytest.approx(float(one_base.t_ar_s))


def test_one_batch_per_strategy_equals_batch_by_batch(inp: Any) -> None:
    # The SLO search gives every (method, budget, γ) its own batch.
    shape = (len(inp.kv_methods), len(inp.kv_budgets), len(inp.gammas))
    per = np.random.default_rng(0).integers(1, 200, shape).astype(float)
    from magicplan.planner.batches import _verify_s

    d = drafts_of(inp)[1]
    rf = baseline(inp).roofline
    many = block(inp, rf, _verify_s(inp, rf, per), d, per)
    for idx in [(0, 0, 0), (1, 2, 3), (len(inp.kv_methods) - 1, 0, len(inp.gammas) - 1)]:
        one_inp = dataclasses.replace(inp, batch=int(per[idx]))
        one_base = baseline(one_inp)
        one = block(one_inp, one_base.roofline, one_base.t_verify_s, d)
        assert many.t_round_s[idx] == pytest.approx(float(one.t_round_s[idx]), rel=1e-12)
        assert many.grid.memory_bytes[idx] == pytest.approx(float(one.grid.memory_bytes[idx]))
