"""Operators whose FLOPs and bytes are affine in the step's tokens t = B·q, folded once into
piecewise-affine class times.

Each such operator (projections, dense MLP, norms, LM head, embedding) costs
max(W0 + (W1 + A1)·t, F1·t·bw/fl) / bw: memory-bound up to its ridge point t* = W0 / (F1·bw/fl −
W1 − A1) (the "kink"), compute-bound beyond. Summed over operators and split by class, the step's
weights, activations and compute times are affine in t between consecutive kinks, so folding
them turns ~7 operators x ~17 array passes into one segment lookup and three multiply-adds.
A step's communication and fixed latencies are affine in t everywhere.

Knows no model: it folds whatever operators it is given, probing them at a few token counts;
an operator that is not affine (MoE experts touched) is reported, not folded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array, OpCost
from magicplan.cost.roofline import Roofline

PROBE_TOKENS = np.array([0.0, 1.0, 4099.0])  # two points fix an affine op; the third checks it
AFFINE_RTOL = 1e-9  # a probe this close to the affine prediction counts as affine
Segment = npt.NDArray[np.intp] | int  # kinks below each token count (one int: all the same)


@dataclass(frozen=True)
class Affine:
    """c0 + c1·t."""

    c0: float
    c1: float


@dataclass(frozen=True)
class Folded:
    """Class times (s) of the affine operators: segment j (j kinks below t) costs
    weights0_s[j] + weights1_s[j]·t, activations1_s[j]·t and compute1_s[j]·t."""

    kinks: Array  # tokens beyond which one more operator is compute-bound, ascending
    weights0_s: Array
    weights1_s: Array
    activations1_s: Array
    compute1_s: Array
    fixed: dict[str, Affine]  # "communication", "overhead": seconds affine in t
    unfolded: frozenset[str]  # operators that are not affine in t (evaluate them directly)

    def total(self, tokens: Array, j: Segment) -> Array:
        """Seconds of every folded operator and the fixed costs at `tokens` in segments `j`."""
        return self.total0_s[j] + self.total1_s[j] * tokens

    def times(self, tokens: Array, j: Segment) -> dict[str, Array]:
        """Class times in seconds at `tokens` in segments `j`: weights, activations, compute and
        the fixed classes; kv is not among them (no affine operator reads the cache)."""
        t = tokens
        out = {
            "weights": self.weights0_s[j] + self.weights1_s[j] * t,
            "activations": self.activations1_s[j] * t,
            "compute": self.compute1_s[j] * t,
        }
        return out | {name: f.c0 + f.c1 * t for name, f in self.fixed.items()}

    @cached_property
    def total0_s(self) -> Array:
        """Seconds at zero tokens, per segment: weights and the fixed latencies."""
        return self.weights0_s + sum(f.c0 for f in self.fixed.values())

    @cached_property
    def total1_s(self) -> Array:
        """Seconds per token, per segment, over every class."""
        slope = self.weights1_s + self.activations1_s + self.compute1_s
        return slope + sum(f.c1 for f in self.fixed.values())

    def segment(self, t: Array) -> Segment:
        """How many kinks lie below each t: a scalar when one segment holds every t (the common
        case: decode batches sit below the ridge point), else an index array."""
        if t.size == 0 or not len(self.kinks):
            return 0
        lo, hi = np.searchsorted(self.kinks, [t.min(), t.max()], side="left")
        if lo == hi:
            return int(lo)
        j = np.full(t.shape, lo, dtype=np.intp)
        for kink in self.kinks[lo:hi]:
            j += t > kink
        return j


def fold(
    ops_at: Callable[[Array], list[OpCost]],
    fixed_at: Callable[[Array], dict[str, Array]],
    rf: Roofline,
) -> Folded:
    """Fold the operators `ops_at(tokens)` and the fixed costs `fixed_at(tokens)` on `rf`."""
    t = PROBE_TOKENS
    bw, fl = rf.achieved_bytes_per_s, rf.achieved_flops_per_s
    rows: list[tuple[float, ...]] = []  # kink, weights0, weights1, activations1, compute1 (s)
    unfolded = set()
    for op in ops_at(t):
        parts = [_probe(v) for v in (op.weight_bytes, op.act_bytes, op.flops)]
        if any(p is None for p in parts) or _probe(op.kv_bytes) != Affine(0.0, 0.0):
            unfolded.add(op.name)
            continue
        w, a, f = (p for p in parts if p is not None)
        if a.c0 or f.c0:
            raise ValueError(f"operator {op.name} has activations or FLOPs at zero tokens")
        excess = f.c1 * bw / fl - w.c1 - a.c1  # bytes' worth of FLOPs per token beyond its bytes
        # "max": memory-bound while W0 + (W1+A1)·t >= F1·t·bw/fl; "sum": both always count.
        if rf.overlap == "sum":
            rows += [(-np.inf, 0.0, 0.0, 0.0, op.count * f.c1 / fl)]
            rows += [(np.inf, op.count * w.c0 / bw, op.count * w.c1 / bw, op.count * a.c1 / bw, 0)]
            continue
        kink = w.c0 / excess if excess > 0 else np.inf
        rows.append((kink, *(op.count * x / bw for x in (w.c0, w.c1, a.c1)), op.count * f.c1 / fl))
    table = np.array(sorted(rows, key=lambda r: r[0]), dtype=np.float64).reshape(-1, 5)
    kinks, mem, cmp = table[:, 0], table[:, 1:4], table[:, 4]
    # Segment j: ops 0..j-1 (lowest kinks) are compute-bound, ops j.. memory-bound.
    mem_suffix = np.vstack([np.cumsum(mem[::-1], axis=0)[::-1], np.zeros((1, 3))])
    cmp_prefix = np.concatenate([[0.0], np.cumsum(cmp)])
    finite = np.isfinite(kinks)
    lo = int(np.sum(kinks == -np.inf))  # always compute-bound: below every segment
    keep = np.arange(lo, lo + int(finite.sum()) + 1)
    fixed = {name: _probe(v) for name, v in fixed_at(t).items()}
    if any(f is None for f in fixed.values()):
        raise ValueError("fixed step costs must be affine in the tokens")
    return Folded(
        kinks[finite],
        mem_suffix[keep, 0],
        mem_suffix[keep, 1],
        mem_suffix[keep, 2],
        cmp_prefix[keep],
        {name: f for name, f in fixed.items() if f is not None},
        frozenset(unfolded),
    )


Form = tuple[float, float]  # seconds per sequence, seconds per sequence and cached key


@dataclass(frozen=True)
class PerSequence:
    """Seconds of operators that cost per_sequence·B + per_key·B·L (attention at a fixed q), in
    total and by class."""

    total: Form
    classes: dict[str, Form]  # "weights", "kv", "activations", "compute"


# (B, L) probes: the first two fix the form, the rest check it (1e9 keys: past any window).
SEQUENCE_PROBES = np.array([1.0, 1.0, 2.0, 3.0, 5.0])
KEY_PROBES = np.array([0.0, 1.0, 0.0, 7.0, 1e9])


def fold_per_sequence(
    ops_at: Callable[[Array, Array], list[OpCost]], rf: Roofline
) -> PerSequence | None:
    """Fold `ops_at(B, L)` (FLOPs and bytes linear in B and B·L) into one PerSequence, if each
    operator stays memory-bound (or compute-bound) for every B, L >= 0; None when one is not
    of that form (a sliding window's min(L, w)) or changes regime."""
    bw, fl = rf.achieved_bytes_per_s, rf.achieved_flops_per_s
    classes = dict.fromkeys(("weights", "kv", "activations", "compute"), (0.0, 0.0))
    for op in ops_at(SEQUENCE_PROBES, KEY_PROBES):
        by_class = {
            "weights": _form(op.weight_bytes, op.count / bw),
            "kv": _form(op.kv_bytes, op.count / bw),
            "activations": _form(op.act_bytes, op.count / bw),
            "compute": _form(op.flops, op.count / fl),
        }
        forms = {k: f for k, f in by_class.items() if f is not None}
        if len(forms) < len(by_class):
            return None
        memory = [sum(forms[k][i] for k in ("weights", "kv", "activations")) for i in (0, 1)]
        compute = forms["compute"]
        if rf.overlap == "max":
            if memory[0] >= compute[0] and memory[1] >= compute[1]:
                forms["compute"] = (0.0, 0.0)  # memory-bound at every B, L
            elif memory[0] <= compute[0] and memory[1] <= compute[1]:
                forms = {k: (0.0, 0.0) for k in forms} | {"compute": compute}
            else:
                return None  # turns compute-bound somewhere: cost it operator by operator
        classes = {k: (v[0] + forms[k][0], v[1] + forms[k][1]) for k, v in classes.items()}
    total = (sum(f[0] for f in classes.values()), sum(f[1] for f in classes.values()))
    return PerSequence(total, classes)


def _form(values: Array | float, scale: float) -> Form | None:
    """(c_B, c_BL)·scale with values = c_B·B + c_BL·B·L at the probes, or None if not so."""
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), SEQUENCE_PROBES.shape)
    c_b, c_k = float(v[0]), float(v[1] - v[0])
    predicted = SEQUENCE_PROBES * (c_b + c_k * KEY_PROBES)
    if not np.allclose(predicted, v, rtol=AFFINE_RTOL, atol=0.0):
        return None
    return c_b * scale, c_k * scale


def _probe(values: Array | float) -> Affine | None:
    """The affine c0 + c1·t through the values at PROBE_TOKENS, or None if they are not affine."""
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), PROBE_TOKENS.shape)
    c0, c1 = float(v[0]), float(v[1] - v[0])
    predicted = c0 + c1 * PROBE_TOKENS[2]
    if abs(v[2] - predicted) > AFFINE_RTOL * max(abs(v[2]), abs(predicted), 1e-300):
        return None
    return Affine(c0, c1)
