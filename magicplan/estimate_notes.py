"""The notes of one estimate (`magicplan.estimate.estimate`): what the serving engine cannot run
of the strategy priced, and what a reader must know of the workload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array
from magicplan.physics import workload_warnings
from magicplan.specs.registry import runnable

if TYPE_CHECKING:
    from magicplan.setup import Setup


def engine_notes(setup: Setup, header: dict[str, Any]) -> list[str]:
    """What the serving engine cannot run of this strategy, and hardware it does not run on
    (none: it runs it, or its features are unknown): the estimate still prices it on that
    engine's step costs."""
    from magicplan.planner.engine_features import lacks, needs_of, vendor_note

    runs = runnable(setup.engine, setup.hardware)
    if runs is None:
        return []
    notes = [n for n in (vendor_note(runs, setup.hardware),) if n]
    draft = header["draft_model"] if header["draft_kind"] != "draft_model" else "draft_model"
    gamma = int(np.max(np.asarray(header["gamma"])))
    entry = {"draft_model": draft, "kv_method": header["kv_method"], "gamma": gamma,
             "tree_tokens": int(np.max(np.asarray(header["tree_tokens"])))}  # fmt: skip
    batch = int(np.max(np.asarray(header["batch"])))
    lacking = lacks(runs, needs_of(entry, batch), (setup.draft_n, setup.num_gpus))
    if lacking:
        notes.append(f"{runs.id} cannot run {' and '.join(lacking)}: this prices the strategy "
                     "on its step costs (`magicplan plan` plans what it runs)")  # fmt: skip
    return notes


def workload_notes(
    setup: Setup, flat: dict[str, Array], kv_budget: npt.ArrayLike, context: npt.ArrayLike
) -> list[str]:
    """What a reader of one estimate must know: a draft on fewer GPUs, a budget that keeps the
    whole context, a workload that does not fit."""
    from magicplan.estimate import to_python

    k, s = np.asarray(kv_budget), np.asarray(context)
    notes = workload_warnings(setup.hardware, setup.num_gpus, setup.target, float(np.max(s)))
    notes += [n for n in (setup.draft_split_note,) if n]
    if setup.draft_kv_method not in ("full", "none") and np.any(k >= s):
        where = "" if k.ndim == s.ndim == 0 else " (at some points)"
        notes.append(
            f"kv_budget {to_python(k)} >= context {to_python(s)}{where}: the draft keeps the "
            "whole context"
        )
    fits = np.asarray(flat["fits_in_memory"])
    if not fits.all():
        need = np.max(np.asarray(flat["memory_per_gpu_gb"]))
        where = "" if fits.ndim == 0 else " at some points (see fits_in_memory)"
        notes.append(f"does not fit{where}: {need:.1f} GB per GPU needed")
    return notes
