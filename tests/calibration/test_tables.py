"""Measured step tables → samples for the fit: each row's models are served as the row says."""

from __future__ import annotations

from pathlib import Path

import pytest

from magicplan.calibration.tables import read_measurements, samples_from_columns
from magicplan.errors import MagicplanError
from magicplan.specs import load_hardware

TABLE = """\
gpu,num_gpus,target,weight_dtype,kv_dtype,draft_model,kv_method,kv_budget,gamma,context,batch,t_autoregressive_ms,gamma_t_draft_ms,t_verify_ms
h100-sxm,1,llama-3.1-8b,awq-int4,fp8,llama-3.2-1b,full,0,3,8192,16,8.0,9.0,9.5
h100-sxm,1,llama-3.1-8b,,,llama-3.2-1b,full,0,3,8192,16,16.0,12.0,17.0
"""


def test_a_rows_kv_format_applies_to_its_draft_too(tmp_path: Path) -> None:
    path = tmp_path / "steps.csv"
    path.write_text(TABLE)
    samples = samples_from_columns(read_measurements(path, load_hardware("h100-sxm")))
    served = {(s.kind, int(s.row[0])): s for s in samples}
    quant, plain = served[("draft", 0)], served[("draft", 1)]
    assert quant.target.linear_weight_dtype == "int4" and quant.target.cache_dtype == "fp8"
    assert quant.draft is not None and quant.draft.cache_dtype == "fp8"
    assert quant.draft.linear_weight_dtype == "bfloat16"  # the draft's weights as published
    assert plain.draft is not None and plain.draft.cache_dtype == "bfloat16"
    assert plain.target.cache_dtype == "bfloat16"


@pytest.mark.parametrize(
    ("omega", "ok"), [("1", True), ("4", True), ("0.9", False), ("4.5", False)]
)
def test_accepted_per_step_lies_between_one_and_gamma_plus_one(
    tmp_path: Path, omega: str, ok: bool
) -> None:
    # Ω counts the bonus token (≥ 1) and at most all γ = 3 drafted tokens with it (≤ 4).
    path = tmp_path / "steps.csv"
    path.write_text(
        "num_gpus,target,gamma,context,batch,t_autoregressive_ms,accepted_per_step\n"
        f"1,llama-3.1-8b,3,8192,16,8.0,{omega}\n"
    )
    if ok:
        read_measurements(path, load_hardware("h100-sxm"))
        return
    with pytest.raises(MagicplanError, match=r"row 2 column 'accepted_per_step' must be in \[1"):
        read_measurements(path, load_hardware("h100-sxm"))
