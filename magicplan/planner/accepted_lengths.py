"""Mean accepted lengths τ of the drafting families: the published table shipped as package data
(`magicplan/data/accepted_lengths.yaml`), or a user's YAML/CSV with the same keys (target, draft,
dataset, tree_tokens or gamma, tau, source), looked up for a target and a family.

The parallel of `acceptance_data.py` (α of chains, by method and budget): τ is what tree
drafters publish. Lookup rules, like the α table's: the target's own rows (MT-bench preferred,
the draft shape nearest the one planned); else the same family on the nearest target (the same
tokenizer family first, then the closest size), named as borrowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from magicplan.errors import MagicplanError
from magicplan.io import load_yaml, read_csv_rows

DATA = Path(__file__).resolve().parent.parent / "data" / "accepted_lengths.yaml"
PREFERRED_DATASET = "mt-bench"  # the dataset every family's paper reports
BORROWED = "borrowed from "  # how a source names the entry whose τ was used


@dataclass(frozen=True)
class TauEntry:
    """A published τ of one (target, family, dataset, draft shape)."""

    target: str
    draft: str
    dataset: str
    tau: float
    source: str
    tree_tokens: int | None = None  # tokens verified per sequence (trees)
    gamma: int | None = None  # draft depth (chains; a tree's depth)


@dataclass(frozen=True)
class TauLookup:
    """τ for one plan, where it came from, and whose entry it borrowed (None: its own)."""

    tau: float
    source: str
    entry: TauEntry
    borrowed_from: str | None = None


def _number(item: dict[str, Any], key: str, where: str, low: float) -> float:
    try:
        value = float(item[key])
    except KeyError as exc:
        raise MagicplanError(f"{where}: entry is missing key '{key}'") from exc
    except (TypeError, ValueError) as exc:
        raise MagicplanError(f"{where}: key '{key}' must be a number") from exc
    if not math.isfinite(value) or value < low:
        raise MagicplanError(f"{where}: key '{key}' must be >= {low:g}; got {value:g}")
    return value


def _entry(item: Any, where: str) -> TauEntry:
    if not isinstance(item, dict) or "target" not in item or "draft" not in item:
        raise MagicplanError(f"{where}: each entry must be a mapping with target, draft, tau")
    shape = {k: int(_number(item, k, where, 1)) for k in ("tree_tokens", "gamma", "depth")
             if item.get(k) not in (None, "")}  # fmt: skip
    gamma = shape.get("gamma", shape.get("depth"))
    return TauEntry(
        target=str(item["target"]), draft=str(item["draft"]),
        dataset=str(item.get("dataset") or "unknown"), tau=_number(item, "tau", where, 1.0),
        source=str(item.get("source") or where), tree_tokens=shape.get("tree_tokens"),
        gamma=gamma,
    )  # fmt: skip


def read_tau_table(path: str | Path) -> list[TauEntry]:
    """Entries of a YAML list or a CSV (columns target, draft, tau; dataset, tree_tokens,
    gamma, source optional)."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        rows = read_csv_rows(p, ("target", "draft", "tau"))
        return [_entry(r, f"{p} row {i}") for i, r in enumerate(rows, start=2)]
    data = load_yaml(p)
    if not isinstance(data, list):
        raise MagicplanError(f"{p}: top level must be a list of accepted-length entries")
    return [_entry(item, f"{p} entry {i + 1}") for i, item in enumerate(data)]


@lru_cache(maxsize=1)
def shipped_tau() -> tuple[TauEntry, ...]:
    """The published τ shipped with the package."""
    return tuple(read_tau_table(DATA))


@lru_cache(maxsize=64)
def _profile(model_id: str) -> Any:
    """The shipped profile of a table's target (None for targets without one)."""
    from magicplan.specs import load_model

    try:
        return load_model(model_id)
    except MagicplanError:
        return None


def _nearness(entry: TauEntry, target: Any) -> tuple[int, float]:
    """How close an entry's target is to `target`: same tokenizer family first, then size."""
    other = _profile(entry.target)
    if other is None or target is None:
        return (2, math.inf)
    family = 0 if other.tokenizer == target.tokenizer else 1
    return (family, abs(math.log(other.num_parameters / target.num_parameters)))


def _shape_gap(entry: TauEntry, tree_tokens: int | None, gamma: int | None) -> float:
    want = tree_tokens if tree_tokens is not None else gamma
    have = entry.tree_tokens if tree_tokens is not None else entry.gamma
    return 0.0 if want is None or have is None else abs(math.log(have / want))


def lookup_tau(
    table: Sequence[TauEntry],
    target: Any,
    kind: str,
    tree_tokens: int | None = None,
    gamma: int | None = None,
    chain: bool = False,
) -> TauLookup | None:
    """τ of family `kind` on `target` (a ModelSpec or an id; the entry nearest in draft shape:
    `tree_tokens` for a tree, `gamma` for a chain), else the nearest target's, named as borrowed;
    None when the family has no entry at all. `chain`: only chain measurements (a tree family
    an engine drafts as a chain: the tree's τ would overstate it)."""
    rows = [e for e in table if e.draft == kind and not (chain and e.tree_tokens is not None)]
    if not rows:
        return None
    spec = _profile(target) if isinstance(target, str) else target
    target = target if isinstance(target, str) else target.id
    own = [e for e in rows if e.target == target]
    if not own:
        best = min(rows, key=lambda e: _nearness(e, spec))
        own = [e for e in rows if e.target == best.target]
    pick = min(own, key=lambda e: (e.dataset != PREFERRED_DATASET,
                                   _shape_gap(e, tree_tokens, gamma)))  # fmt: skip
    borrowed = None if pick.target == target else f"{pick.target}/{kind}"
    source = pick.source if borrowed is None else f"{pick.source} ({BORROWED}{borrowed})"
    return TauLookup(pick.tau, source, pick, borrowed)
