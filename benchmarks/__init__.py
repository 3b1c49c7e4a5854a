"""Benchmarks of the provider against what a user would do instead (issue #4).

``benchmarks/run`` runs all four and prints one table; each module also runs alone with
``python -m benchmarks.<name>``. Figures: ``benchmarks/RESULTS.md``
(written by ``benchmarks/run --results``); method: docs/benchmarks.md.
"""
