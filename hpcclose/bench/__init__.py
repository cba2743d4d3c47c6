"""Benchmarks behind ``hpcclose bench …``: each writes JSON + PNG and prints a table."""
