"""An accelerator for the sums of `cost/steps.py`: the same operator times, evaluated in a few
array passes instead of ~17 per operator. The definition is `steps.step_time`; this module must
agree with it (tests/cost/test_folding.py holds every total and class to it within 1e-12).

Operators whose FLOPs and bytes are affine in the step's tokens t = B·q (projections, dense
MLP, norms, LM head, embedding) have memory, compute and blend times that are affine in t, so
each operator's time max(M(t), C(t), κ·(M(t) + C(t))) is piecewise affine, with kinks where the
regime changes. Summed over operators and split by class, the step's weights, activations and
compute times are affine in t between consecutive kinks: folding them turns the operators into
one segment lookup and a multiply-add. A step's communication and fixed latencies are affine in
t everywhere.

Knows no model: it folds whatever operators it is given, probing their seconds (`op_seconds`,
the roofline's own rates) at a few token counts; an operator that is not affine (MoE experts
touched) is reported, not folded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from magicplan.cost.operators import Array, OpCost, Part
from magicplan.cost.roofline import MEMORY_CLASSES, Roofline, op_seconds

PROBE_TOKENS = np.array([0.0, 1.0, 4099.0])  # two points fix an affine op; the third checks it
AFFINE_RTOL = 1e-9  # a probe this close to the affine prediction counts as affine
Segment = npt.NDArray[np.intp] | int  # kinks below each token count (one int: all the same)


@dataclass(frozen=True)
class Affine:
    """c0 + c1·t."""

    c0: float
    c1: float


@dataclass(frozen=True, kw_only=True)
class Folded:
    """Class times (s) of the affine operators: segment j (j kinks below t) costs
    weights0_s[j] + weights1_s[j]·t, activations1_s[j]·t and compute0_s[j] + compute1_s[j]·t."""

    kinks: Array  # tokens where some operator changes regime, ascending
    weights0_s: Array
    weights1_s: Array
    activations1_s: Array
    compute0_s: Array
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
            "compute": self.compute0_s[j] + self.compute1_s[j] * t,
        }
        return out | {name: f.c0 + f.c1 * t for name, f in self.fixed.items()}

    @cached_property
    def total0_s(self) -> Array:
        """Seconds at zero tokens, per segment: weights, compute floors, fixed latencies."""
        return self.weights0_s + self.compute0_s + sum(f.c0 for f in self.fixed.values())

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


@dataclass(frozen=True)
class _Lines:
    """One affine operator: memory seconds by class and compute seconds, affine in t."""

    weights: Affine
    activations: Affine
    compute: Affine

    @property
    def memory(self) -> Affine:
        return Affine(self.weights.c0 + self.activations.c0, self.weights.c1 + self.activations.c1)


def _regime_scales(lines: _Lines, t: float, rf: Roofline) -> tuple[float, float]:
    """(memory scale, compute scale) of the regime `op_time` picks at t: (1, 0) memory-bound,
    (0, 1) compute-bound, (κ, κ) in the blend band; (1, 1) under "sum"."""
    if rf.overlap == "sum":
        return 1.0, 1.0
    m = lines.memory.c0 + lines.memory.c1 * t
    c = lines.compute.c0 + lines.compute.c1 * t
    kappa = rf.ridge_overlap
    blend = kappa * (m + c) if kappa > 0.5 else 0.0
    if m >= c and m >= blend:
        return 1.0, 0.0
    if c >= blend:
        return 0.0, 1.0
    return kappa, kappa


def _kinks(lines: _Lines, rf: Roofline) -> list[float]:
    """Token counts t > 0 where two of the operator's lines (memory, compute, blend) cross."""
    if rf.overlap == "sum":
        return []
    m, c = lines.memory, lines.compute
    pairs = [(m, c)]
    if rf.ridge_overlap > 0.5:
        k = rf.ridge_overlap
        blend = Affine(k * (m.c0 + c.c0), k * (m.c1 + c.c1))
        pairs += [(m, blend), (c, blend)]
    out = []
    for a, b in pairs:
        slope = a.c1 - b.c1
        if slope:
            t = (b.c0 - a.c0) / slope
            if t > 0 and np.isfinite(t):
                out.append(float(t))
    return out


def fold(
    ops_at: Callable[[Array], list[OpCost]],
    fixed_at: Callable[[Array], dict[str, Array]],
    rf: Roofline,
) -> Folded:
    """Fold the operators `ops_at(tokens)` and the fixed costs `fixed_at(tokens)` on `rf`."""
    lines: list[_Lines] = []
    unfolded = set()
    for op in ops_at(PROBE_TOKENS):
        memory, compute = op_seconds(op, rf)
        probes = [_probe(memory.get(k, 0.0), op.count) for k in MEMORY_CLASSES]
        probes.append(_probe(compute, op.count))
        if any(p is None for p in probes) or probes[1] != Affine(0.0, 0.0):
            unfolded.add(op.name)  # not affine in t, or reads the KV cache
            continue
        w, _, a, f = (p for p in probes if p is not None)
        if a.c0:
            raise ValueError(f"operator {op.name} moves activations at zero tokens")
        lines.append(_Lines(w, a, f))
    kinks = np.array(sorted({k for ln in lines for k in _kinks(ln, rf)}), dtype=np.float64)
    # One point inside each segment: below the first kink, between kinks, beyond the last.
    edges = np.concatenate([[0.0], kinks])
    inside = np.append((edges[:-1] + edges[1:]) / 2, edges[-1] * 2 + 1.0)
    table = np.zeros((inside.size, 5))  # weights0, weights1, activations1, compute0, compute1
    for ln in lines:
        for j, t in enumerate(inside):
            s_mem, s_cmp = _regime_scales(ln, float(t), rf)
            table[j] += [s_mem * ln.weights.c0, s_mem * ln.weights.c1,
                         s_mem * ln.activations.c1, s_cmp * ln.compute.c0,
                         s_cmp * ln.compute.c1]  # fmt: skip
    fixed = {name: _probe(v, 1.0) for name, v in fixed_at(PROBE_TOKENS).items()}
    if any(f is None for f in fixed.values()):
        raise ValueError("fixed step costs must be affine in the tokens")
    return Folded(
        kinks=kinks,
        weights0_s=table[:, 0],
        weights1_s=table[:, 1],
        activations1_s=table[:, 2],
        compute0_s=table[:, 3],
        compute1_s=table[:, 4],
        fixed={name: f for name, f in fixed.items() if f is not None},
        unfolded=frozenset(unfolded),
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
ZERO: Form = (0.0, 0.0)


def fold_per_sequence(
    ops_at: Callable[[Array, Array], list[OpCost]], rf: Roofline
) -> PerSequence | None:
    """Fold `ops_at(B, L)` (seconds linear in B and B·L) into one PerSequence, if each operator
    keeps one regime (memory-bound, compute-bound or blend) for every B, L >= 0; None when one
    is not of that form (a sliding window's min(L, w)) or changes regime."""
    classes = dict.fromkeys((*MEMORY_CLASSES, "compute"), ZERO)
    for op in ops_at(SEQUENCE_PROBES, KEY_PROBES):
        memory, compute = op_seconds(op, rf)
        found = {k: _form(memory.get(k, 0.0), op.count) for k in MEMORY_CLASSES}
        found["compute"] = _form(compute, op.count)
        if any(f is None for f in found.values()):
            return None
        forms: dict[str, Form] = {k: f for k, f in found.items() if f is not None}
        scales = _one_regime(forms, rf)
        if scales is None:
            return None  # changes regime somewhere: cost it operator by operator
        for k, (c_b, c_k) in forms.items():
            s = scales[1] if k == "compute" else scales[0]
            classes[k] = (classes[k][0] + s * c_b, classes[k][1] + s * c_k)
    total = (sum(f[0] for f in classes.values()), sum(f[1] for f in classes.values()))
    return PerSequence(total, classes)


def _one_regime(forms: dict[str, Form], rf: Roofline) -> tuple[float, float] | None:
    """(memory scale, compute scale) when one regime holds at every B, L >= 0 (checked on both
    coefficients), else None."""
    if rf.overlap == "sum":
        return 1.0, 1.0
    m = [sum(forms[k][i] for k in MEMORY_CLASSES) for i in (0, 1)]
    c = list(forms["compute"])
    kappa = rf.ridge_overlap if rf.ridge_overlap > 0.5 else 0.0
    blend = [kappa * (m[i] + c[i]) for i in (0, 1)]
    if all(m[i] >= c[i] and m[i] >= blend[i] for i in (0, 1)):
        return 1.0, 0.0
    if all(c[i] >= m[i] and c[i] >= blend[i] for i in (0, 1)):
        return 0.0, 1.0
    if kappa and all(blend[i] >= m[i] and blend[i] >= c[i] for i in (0, 1)):
        return kappa, kappa
    return None


def _form(values: Part, scale: float) -> Form | None:
    """(c_B, c_BL)·scale with values = c_B·B + c_BL·B·L at the probes, or None if not so."""
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), SEQUENCE_PROBES.shape)
    c_b, c_k = float(v[0]), float(v[1] - v[0])
    predicted = SEQUENCE_PROBES * (c_b + c_k * KEY_PROBES)
    if not np.allclose(predicted, v, rtol=AFFINE_RTOL, atol=0.0):
        return None
    return c_b * scale, c_k * scale


def _probe(values: Part, scale: float) -> Affine | None:
    """The affine (c0 + c1·t)·scale through the values at PROBE_TOKENS, or None if they are
    not affine."""
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), PROBE_TOKENS.shape)
    c0, c1 = float(v[0]), float(v[1] - v[0])
    predicted = c0 + c1 * PROBE_TOKENS[2]
    if abs(v[2] - predicted) > AFFINE_RTOL * max(abs(v[2]), abs(predicted), 1e-300):
        return None
    return Affine(c0 * scale, c1 * scale)
