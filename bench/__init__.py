"""Benchmarks of lmkit against its peers (transformers, nanoGPT's reference figures).

One module per benchmark, each runnable as ``python -m bench.<name>``; ``python -m
bench.run_all`` runs them all. See ``bench/README.md`` for what is measured and how.
"""
