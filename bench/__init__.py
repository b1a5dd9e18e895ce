"""Load and scale benchmarks for scaiflow-box (`make bench`, i.e. `python -m bench.run`).

Not part of CI's test step. See docs/performance.md for the method and the measured figures.
"""
