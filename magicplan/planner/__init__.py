"""The strategy planner: acceptance model, optimizer, critical length, break-even, sweep,
capacity and engine export."""

from __future__ import annotations

from magicplan.planner.analysis import break_even, critical_length, sweep
from magicplan.planner.capacity import capacity
from magicplan.planner.optimizer import plan

__all__ = ["break_even", "capacity", "critical_length", "plan", "sweep"]
