"""Benchmarks (``python -m bench``); results are written down in docs/performance.md, never asserted in tests."""
