"""Units: one convention for the whole package.

Inside, every quantity is SI (bytes, FLOP, seconds). Each constant below is the size of one unit in
SI, so a figure enters as `value * UNIT` and leaves as `value / UNIT`:
`step_overhead_us * US` is seconds; `t_s / MS` is milliseconds; `bytes_ / GB` is decimal GB.
"""

from __future__ import annotations

# Time, in seconds.
MS = 1e-3  # one millisecond
US = 1e-6  # one microsecond
NS = 1e-9  # one nanosecond

# Bytes.
GB = 1e9  # one decimal gigabyte
TB = 1e12  # one decimal terabyte
GIB = 2.0**30  # one binary gibibyte (what "80 GB" HBM datasheets mean)

# Rates.
GIGA = 1e9  # 1 GB/s in bytes/s, 1 G-anything per second
TERA = 1e12  # 1 TFLOP/s in FLOP/s, 1 TB/s in bytes/s
