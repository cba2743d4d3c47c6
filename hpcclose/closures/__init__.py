"""Closures: maps from moments to the multipliers of an ansatz, batched over cells."""

from .base import Closure, ClosureStats, available, get_closure

__all__ = ["Closure", "ClosureStats", "available", "get_closure"]
