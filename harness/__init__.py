"""The benchmark harness: servers to start, answers to verify, siege to drive, results to report."""
