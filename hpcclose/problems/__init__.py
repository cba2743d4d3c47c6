"""Benchmark problems, one module each, found by name from an input file."""

from .base import Coefficients, ExactSolution, Problem, available, get_problem

__all__ = ["Coefficients", "ExactSolution", "Problem", "available", "get_problem"]
