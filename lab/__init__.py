"""The lab: namespace clusters for tests, the demo and the benchmarks. Not installed."""
