"""hpcclose: entropy-based moment closures for kinetic transport at scale."""

__version__ = "0.1.0"
