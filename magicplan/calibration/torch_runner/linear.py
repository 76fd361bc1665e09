"""Weight GEMMs as a compiled CPU engine runs them: on x86 builds of torch with MKL, each weight
is packed once per row count (batch x new tokens) and multiplied with MKL's packed GEMM — what
torch.compile's freezing pass emits for float32 linears on CPU (`mkl._mkl_linear`).

Why: unpacked MKL GEMMs with 2-16 rows repack the weight on every call, so a step over a few
tokens streams its weights two to three times (measured, one Xeon core, DRAM-resident 512x3584
weight: 0.47 ms at 1 row, 1.0 ms at 8, 1.2 ms at 16); packed, the same GEMMs cost one weight
read plus their arithmetic (0.59, 0.78, 0.93 ms), which is what a roofline describes. Packed
kernels for 5-7 rows are slower than for 8 (0.81-0.95 vs 0.76 ms), so those row counts are
padded up to 8 (and 3 to 4), as engines pad batches to the shapes they tuned. Elsewhere (CUDA,
or torch without MKL) `F.linear` is used as is.

Memory: a packed copy is about 2.3x its weight (MKL's blocked layout, measured), one per row
count in use: the full CPU grid keeps a dozen of its 126 MB model, ~3.5 GB of host memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Tensor = Any
PACK_MAX_ROWS = 256  # decode and verify shapes; prefill GEMMs are large enough unpacked
PAD_BELOW = 8  # row counts under 8 (but above 2) are padded to the next multiple of 4


def padded_rows(rows: int) -> int:
    """Rows the packed GEMM runs for `rows` input rows."""
    if 2 < rows < PAD_BELOW:
        return -(-rows // 4) * 4
    return rows


def mkl_packing(device: str) -> bool:
    """True when torch can run MKL packed GEMMs on `device`."""
    import torch

    mkl = getattr(torch.ops, "mkl", None)
    return device == "cpu" and bool(torch._C.has_mkl) and hasattr(mkl, "_mkl_linear")


@dataclass
class Linear:
    """A weight (out, in), as `F.linear` takes it, and its packed copies by row count."""

    weight: Tensor
    pack: bool
    packed: dict[int, Tensor] = field(default_factory=dict)

    @property
    def out_features(self) -> int:
        """Width of the output."""
        return int(self.weight.shape[0])


def linear(x: Tensor, lin: Linear) -> Tensor:
    """x (..., in) @ weight.T → (..., out); packed on first use of each row count."""
    import torch
    import torch.nn.functional as F

    rows = x.numel() // x.shape[-1]
    if not lin.pack or rows > PACK_MAX_ROWS or x.dtype != torch.float32:
        return F.linear(x, lin.weight)
    m = padded_rows(rows)
    packed = lin.packed.get(m)
    if packed is None:
        packed = torch.ops.mkl._mkl_reorder_linear_weight(lin.weight, m)
        lin.packed[m] = packed
    x2 = x.reshape(rows, -1)
    if m > rows:
        x2 = torch.cat([x2, x2.new_zeros(m - rows, x2.shape[1])])
    y = torch.ops.mkl._mkl_linear(x2, packed, lin.weight, None, m)
    return y[:rows].view(*x.shape[:-1], lin.out_features)
