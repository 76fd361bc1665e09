"""The strategy planner: acceptance model, optimizer, critical length, break-even, sweep,
capacity and engine export."""

from __future__ import annotations

from magicplan.planner.optimizer import plan

__all__ = ["plan"]
