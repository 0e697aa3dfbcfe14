"""A strategy's capacity: the highest open-loop rate it sustains within a latency target, found by search."""


def search(passes, start, highest, precision=0.05, max_steps=12):
    """The highest rate for which `passes(rate)` holds, assuming it holds below some threshold and fails above.

    Up from `start` by doubling until a rate fails (or `highest` passes), then bisection between the highest rate
    that passed and the lowest that failed, until they are within `precision` of each other; each call of
    `passes` is one measured run, so there are at most `max_steps`: enough to come within `precision` of a
    threshold from a quarter of `start` to 16 times it. Returns 0.0 if no rate tried passed."""
    passed, failed, rate = 0.0, None, start
    for _ in range(max_steps):
        if passes(rate):
            passed = rate
        else:
            failed = rate
        if failed is None:  # still going up
            if rate >= highest:
                break
            rate = min(2 * rate, highest)
        else:
            if failed - passed <= precision * failed:
                break
            rate = round_rate((passed + failed) / 2)
            if rate in (passed, failed):  # as close as three figures go
                break
    return passed


def round_rate(rate):
    """Three significant figures: a rate a person can read and type (12.3, 0.456, 1230)."""
    return float(f"{rate:.3g}")
