"""The scenario's `Mode` as a `Literal` type, importable without numpy (like
`magicplan.cost.methods.KvMethod`), so that validation and the command line's --help derive
their choices from it (typing.get_args)."""

from __future__ import annotations

from typing import Literal

# "calibrated": fitted efficiencies and overheads; "ideal": datasheet peaks, no overheads.
Mode = Literal["calibrated", "ideal"]
