"""Microbenchmarks: memory copy and read bandwidth, peak GEMM rate, kernel/launch latency and
the runner's fixed cost per step and per layer (the roofs and floors: `roof_probes`,
`floor_probes`), and the model's own decode/verify GEMM shapes and decode attention across KV
lengths and batch sizes (`shape_benches`).

On a CPU the roofs are the profile's "datasheet" figures; the shapes seed the fit (the achieved
share of a roof on the model's shapes is the starting efficiency) and go into the report.
Roof probes run inside the step-timing passes and keep their best time: a roof is what the
machine can do, and interference from other processes only ever lowers a measured rate. Floor
probes (fixed costs) keep their best time too, from passes of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.calibration.torch_runner.linear import Linear, linear, mkl_packing
from magicplan.calibration.torch_runner.model import (
    attention,
    forward,
    greedy,
    init_weights,
    new_cache,
    torch_dtype,
)
from magicplan.calibration.torch_runner.timing import TimingPlan, median_time
from magicplan.specs.model import DTYPE_BYTES, ModelSpec
from magicplan.units import GIGA, TERA, US

PEAK_GEMM_SIZES = {"cpu": (1024, 2048), "cuda": (4096, 8192)}  # square GEMMs, big enough to
# reach the compute roof on a small CPU and on a datacenter GPU respectively
COPY_MAX_BYTES = 2**31  # the copy's working set: the model's weights, up to 2 GiB
LAUNCH_CALLS = 100  # smallest kernels per timed call: one is near the clock's resolution
TINY_WIDTH = 8  # per-head, MLP and vocabulary width of the launch-bound overhead probe
MAX_COPIES = 64  # weight copies a shape benchmark cycles through to stream from memory


@dataclass(frozen=True)
class Probe:
    """A timed callable and the work one call does (bytes, FLOPs, kernels; 0 when a floor)."""

    name: str
    fn: Callable[[], Any]
    work: float


@dataclass
class MicroResult:
    """What the microbenchmarks found (SI units), and every timed shape for the report."""

    copy_bytes_per_s: float
    read_bytes_per_s: float
    peak_flops_per_s: float
    launch_latency_s: float
    step_overhead_s: float
    layer_overhead_s: float
    gemms: list[dict[str, Any]] = field(default_factory=list)
    attention: list[dict[str, float]] = field(default_factory=list)

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """The memory roof: the better of streaming a copy and streaming a read."""
        return max(self.copy_bytes_per_s, self.read_bytes_per_s)

    def memory_efficiency(self) -> float:
        """Median achieved share of the memory roof on one-token (decode) GEMM shapes."""
        bw = self.bandwidth_bytes_per_s
        shares = [g["bytes_per_s"] / bw for g in self.gemms if g["m"] == 1]
        return float(np.median(shares)) if shares else 1.0

    def compute_efficiency(self) -> float:
        """Median achieved share of peak FLOP/s on the largest (verify) GEMM shapes."""
        m = max((g["m"] for g in self.gemms), default=0)
        shares = [g["flops_per_s"] / self.peak_flops_per_s for g in self.gemms if g["m"] == m]
        return float(np.median(shares)) if shares else 1.0

    def summary(self) -> dict[str, float]:
        """The headline figures, in report units."""
        return {
            "copy_gb_s": self.copy_bytes_per_s / GIGA,
            "read_gb_s": self.read_bytes_per_s / GIGA,
            "peak_tflops": self.peak_flops_per_s / TERA,
            "launch_latency_us": self.launch_latency_s / US,
            "step_overhead_us": self.step_overhead_s / US,
            "layer_overhead_us": self.layer_overhead_s / US,
            "decode_gemm_memory_efficiency": self.memory_efficiency(),
            "verify_gemm_compute_efficiency": self.compute_efficiency(),
        }


def copy_probe(device: str, nbytes: float) -> Probe:
    """A device-to-device copy; its work is read + write bytes of a working set of `nbytes`."""
    import torch

    n = max(int(nbytes) // 8, 1)  # float32 elements in each of the source and destination
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    return Probe("copy", lambda: dst.copy_(src), 2.0 * n * 4)


def read_probe(device: str, nbytes: float) -> Probe:
    """A streaming read (a sum) of `nbytes`: decode reads weights and KV, and writes little."""
    import torch

    x = torch.ones(max(int(nbytes) // 4, 1), device=device)
    return Probe("read", lambda: x.sum(), x.numel() * 4.0)


def gemm_probes(device: str, dtype: str) -> list[Probe]:
    """Square GEMMs in `dtype`; the best rate over them is the compute roof."""
    import torch

    out = []
    for n in PEAK_GEMM_SIZES[device]:
        a = torch.randn((n, n), device=device, dtype=torch_dtype(dtype))
        b = torch.randn((n, n), device=device, dtype=torch_dtype(dtype))

        def mm(a: Any = a, b: Any = b) -> Any:
            return torch.mm(a, b)

        out.append(Probe(f"gemm_{n}", mm, 2.0 * n**3))
    return out


def launch_probe(device: str) -> Probe:
    """The smallest kernel (an in-place add on one element), LAUNCH_CALLS times."""
    import torch

    x = torch.zeros(1, device=device)
    return Probe("launch", lambda: [x.add_(1) for _ in range(LAUNCH_CALLS)], LAUNCH_CALLS)


def overhead_probes(spec: ModelSpec, device: str) -> list[Probe]:
    """A decode step of the runner's decoder with every width shrunk to TINY_WIDTH (launch-bound),
    at 1 and at 3 layers: the difference is the fixed cost per layer, the rest per step."""
    import torch

    out = []
    for layers in (1, 3):
        tiny = spec.model_copy(
            update={
                "hidden_size": spec.num_attention_heads * TINY_WIDTH,
                "head_dim": TINY_WIDTH,
                "intermediate_size": TINY_WIDTH,
                "vocab_size": TINY_WIDTH,
                "num_layers": layers,
            }
        )
        w, cache = init_weights(tiny, device), new_cache(tiny, 1, 2 * TINY_WIDTH, device)
        tok = torch.zeros((1, 1), dtype=torch.long, device=device)

        def step(w: Any = w, cache: Any = cache, tok: Any = tok) -> Any:
            cache.length = TINY_WIDTH
            return greedy(forward(w, cache, tok, TINY_WIDTH)[0])

        out.append(Probe(f"tiny_{layers}_layers", step, 0.0))
    return out


def roof_probes(spec: ModelSpec, device: str) -> list[Probe]:
    """Bandwidth and compute roofs; the memory probes' working set is the model's weights."""
    nbytes = min(spec.weight_bytes(), COPY_MAX_BYTES)
    return [
        copy_probe(device, nbytes),
        read_probe(device, nbytes),
        *gemm_probes(device, spec.dtype),
    ]


def floor_probes(spec: ModelSpec, device: str) -> list[Probe]:
    """Launch latency and the runner's fixed costs. Timed on their own: right after a large
    GEMM, launch-bound code runs up to 3x slower for a while (measured on a Xeon core)."""
    return [launch_probe(device), *overhead_probes(spec, device)]


def roofs(probes: list[Probe], best_s: npt.NDArray[np.float64]) -> MicroResult:
    """Roofs and floors from each probe's best time (seconds, in `probes` order)."""
    t = {p.name: (p, float(s)) for p, s in zip(probes, best_s, strict=True)}
    peak = max(p.work / s for name, (p, s) in t.items() if name.startswith("gemm_"))
    one, three = t["tiny_1_layers"][1], t["tiny_3_layers"][1]
    per_layer = max((three - one) / 2, 0.0)
    return MicroResult(
        copy_bytes_per_s=t["copy"][0].work / t["copy"][1],
        read_bytes_per_s=t["read"][0].work / t["read"][1],
        peak_flops_per_s=peak,
        launch_latency_s=t["launch"][1] / LAUNCH_CALLS,
        step_overhead_s=max(one - per_layer, 0.0),
        layer_overhead_s=per_layer,
    )


def model_gemms(spec: ModelSpec) -> dict[str, tuple[int, int]]:
    """(in, out) of every weight GEMM of a layer, and the LM head."""
    h = spec.hidden_size
    return {
        "qkv_proj": (h, spec.q_dim + 2 * spec.kv_dim),
        "o_proj": (spec.q_dim, h),
        "gate_up": (h, 2 * spec.intermediate_size),
        "down": (spec.intermediate_size, h),
        "lm_head": (h, spec.vocab_size),
    }


def gemm_shapes(
    spec: ModelSpec, device: str, rows: tuple[int, ...], plan: TimingPlan
) -> list[dict[str, Any]]:
    """Achieved FLOP/s and bytes/s of the model's GEMMs (the runner's `linear`) at `rows` rows
    (B for decode, B·(γ+1) for verify), cycling through copies of each weight that together
    are as large as the model (up to COPY_MAX_BYTES), so they stream from memory as in a step."""
    import torch

    dt, size = torch_dtype(spec.dtype), DTYPE_BYTES[spec.dtype]
    pack, out = mkl_packing(device), []
    for name, (d_in, d_out) in model_gemms(spec).items():
        working_set = min(spec.weight_bytes(), COPY_MAX_BYTES)
        copies = min(MAX_COPIES, math.ceil(working_set / (d_in * d_out * size)))
        ws = [
            Linear(torch.randn((d_out, d_in), device=device, dtype=dt), pack) for _ in range(copies)
        ]
        for m in rows:
            x = torch.randn((m, d_in), device=device, dtype=dt)

            def call(x: Any = x, ws: list[Linear] = ws) -> Any:
                return [linear(x, w) for w in ws]

            t = median_time(call, device, plan) / copies
            moved = (d_in * d_out + m * (d_in + d_out)) * size
            flops = 2.0 * m * d_in * d_out
            out.append(
                {"m": m, "seconds": t, "flops_per_s": flops / t, "bytes_per_s": moved / t}
                | {"name": name}
            )
    return out


def attention_bench(
    spec: ModelSpec,
    device: str,
    batches: tuple[int, ...],
    kv_lens: tuple[int, ...],
    plan: TimingPlan,
) -> list[dict[str, float]]:
    """Achieved KV bytes/s of one layer's decode attention (the runner's own kernel)."""
    import torch

    dt, size = torch_dtype(spec.dtype), DTYPE_BYTES[spec.dtype]
    hd, heads, kvh = spec.head_dim_eff, spec.num_attention_heads, spec.num_kv_heads
    out = []
    for b in batches:
        for n in kv_lens:
            q = torch.randn((b, heads, 1, hd), device=device, dtype=dt)
            k = torch.randn((b, kvh, n, hd), device=device, dtype=dt)
            v = torch.randn((b, kvh, n, hd), device=device, dtype=dt)

            def call(q: Any = q, k: Any = k, v: Any = v, n: int = n) -> Any:
                return attention(q, k, v, heads // kvh, n - 1)

            t = median_time(call, device, plan)
            kv = 2 * b * n * kvh * hd * size
            out.append({"batch": b, "kv_len": n, "seconds": t, "bytes_per_s": kv / t})
    return out


def shape_benches(
    res: MicroResult,
    spec: ModelSpec,
    device: str,
    shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
    plan: TimingPlan,
) -> MicroResult:
    """`res` with the model's GEMM and attention shapes timed: (batches, rows, KV lengths)."""
    batches, rows, kv_lens = shapes
    res.gemms = gemm_shapes(spec, device, rows, plan)
    res.attention = attention_bench(spec, device, batches, kv_lens, plan)
    return res


def as_dict(res: MicroResult) -> dict[str, Any]:
    """JSON-ready report of every microbenchmark."""
    return {"summary": res.summary(), "gemms": res.gemms, "attention": res.attention}
