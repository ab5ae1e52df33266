"""hbmesh benchmarks: `make bench` runs them side by side and writes bench/RESULTS.md."""
