"""The categorical choices of a scenario as `Literal` types: one home each, importable without
numpy, so that validation and the command line's --help derive from them (typing.get_args)."""

from __future__ import annotations

from typing import Literal

# Draft KV compression methods (design.md §2).
KvMethod = Literal["full", "streamingllm", "snapkv", "topk"]
# "calibrated": fitted efficiencies and overheads; "ideal": datasheet peaks, no overheads.
Mode = Literal["calibrated", "ideal"]
