"""Timing that means something: a chosen device, fixed CPU threads, warm-up, CUDA events with
synchronisation on GPU, and the median of repeats taken round-robin over a grid.

Round-robin (every point once per pass, `repeats` passes) spreads each point's repeats over the
whole run, so a burst of load from another process spoils a few repeats of many points — which
the median discards — instead of every repeat of a few points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from magicplan.errors import MagicplanError
from magicplan.units import MS

DEVICES = ("cpu", "cuda")


def require_torch() -> Any:
    """The torch module, or a MagicplanError saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise MagicplanError(
            "calibrate and validate need torch: pip install 'magicplan[calibrate]'"
        ) from exc
    return torch


def check_device(device: str) -> str:
    """`device` if torch can run on it here; else a MagicplanError naming --device."""
    if device not in DEVICES:
        raise MagicplanError(f"--device must be one of {', '.join(DEVICES)}; got '{device}'")
    torch = require_torch()
    if device == "cuda" and not torch.cuda.is_available():
        raise MagicplanError(
            "--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
            "use --device cpu"
        )
    return device


# One CPU thread unless asked: a multi-threaded kernel waits at every barrier for its slowest
# thread, so one busy neighbour process on a small machine slows it several-fold (measured: a
# 2-thread copy fell from ~50 to ~5 GB/s beside one pytest run), while a single thread keeps
# its own core. Pass --threads N on a dedicated machine.
DEFAULT_CPU_THREADS = 1


def setup_device(device: str, threads: int | None = None) -> int:
    """Fix torch's CPU thread count (process-wide); returns the threads in use."""
    torch = require_torch()
    if threads is not None and threads < 1:
        raise MagicplanError(f"--threads must be a positive integer; got {threads}")
    n = threads or DEFAULT_CPU_THREADS
    torch.set_num_threads(n)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 peak is the one we measure
    return n


def synchronize(device: str) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_once(fn: Callable[[], Any], device: str) -> float:
    """Seconds of one call of `fn`: CUDA events on GPU, a monotonic clock around it on CPU."""
    if device == "cuda":
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end)) * MS  # elapsed_time is in ms
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass(frozen=True)
class TimingPlan:
    """Warm-up calls and timed repeats of each measurement."""

    warmup: int
    repeats: int


def sample_times(
    fns: Sequence[Callable[[], Any]],
    device: str,
    plan: TimingPlan,
    advance: Callable[[int], None] | None = None,
) -> npt.NDArray[np.float64]:
    """Seconds of every call, (repeats, len(fns)), timed round-robin after `plan.warmup` calls
    of each; `advance(n)` reports progress after each pass."""
    for fn in fns:
        for _ in range(plan.warmup):
            fn()
    synchronize(device)
    samples = np.empty((plan.repeats, len(fns)))
    for r in range(plan.repeats):
        for j, fn in enumerate(fns):
            samples[r, j] = time_once(fn, device)
        if advance is not None:
            advance(len(fns))
    return samples


def median_times(
    fns: Sequence[Callable[[], Any]],
    device: str,
    plan: TimingPlan,
    advance: Callable[[int], None] | None = None,
) -> npt.NDArray[np.float64]:
    """Median seconds of each of `fns`, timed round-robin."""
    samples = sample_times(fns, device, plan, advance)
    return np.asarray(np.median(samples, axis=0), dtype=np.float64)


def median_time(fn: Callable[[], Any], device: str, plan: TimingPlan) -> float:
    """Median seconds of one function (microbenchmarks of achieved rates)."""
    return float(median_times([fn], device, plan)[0])
