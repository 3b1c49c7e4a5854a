"""Benchmarks of the provider against what a user would do instead (issue #4).

``benchmarks/run`` runs all four and prints one table; each module also runs alone with
``python -m benchmarks.<name>``. See ``benchmarks/RESULTS.md`` for the figures and method.
"""
