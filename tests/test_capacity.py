"""Capacity as a bracket (harness/run/capacity.py): a step passes only while its backlog holds, a rate that fails its
confirming run is never published, and saved results read by the same rule."""

from dataclasses import replace
from pathlib import Path

import pytest

from harness import columns
from harness.load import openloop
from harness.network import HOST
from harness.records.file import load
from harness.records.suite import SuiteResults
from harness.run import capacity
from harness.servers import by_name


def halves_of(rate, seconds, overload, queued=2.0):
    """The in-flight means a fluid model gives: `queued` in steady state, plus overload × rate requests a second."""
    growth = overload * rate  # requests a second
    return [queued + growth * seconds / 4, queued + growth * seconds * 3 / 4]  # each half's mean of a straight line


@pytest.mark.parametrize(
    "rate, seconds, overload, holds",
    [
        (20, 10, 0.0, True),
        (20, 10, 0.03, True),  # 3 requests more: under MAX_OVERLOAD
        (20, 10, 0.10, False),  # 10 more: the p99 alone would still pass at the step's end (1 s of work)
        (200, 10, 0.06, False),
        (2, 10, 0.04, True),  # 0.4 of a request: noise, under MIN_GROWTH
        (2, 10, 0.5, False),
    ],
)
def test_a_step_whose_backlog_grows_fails(rate, seconds, overload, holds):
    assert capacity.steady(halves_of(rate, seconds, overload), rate, seconds) is holds
    assert capacity.steady(None, rate, seconds) is None, "a half without sends: not known"


def test_steps_last_ten_times_the_target():
    assert capacity.step_seconds(8, 1000) == 10 and capacity.step_seconds(15, 1000) == 15
    assert capacity.step_seconds(2, 200) == 2


def test_a_rate_that_fails_its_confirmation_is_not_published():
    tried = []

    def holds(rate):
        tried.append(rate)
        return rate <= 21

    # 22 passed its step but does not hold: the next tried is 8 % lower (20.2), above the 18 that passed a step.
    assert capacity.confirm(holds, 22, 24, [12, 18, 22]) == (20.2, 22)
    assert tried == [22, 20.2]
    tried.clear()
    # Neither 30 nor the one below it holds: no capacity, and the lowest failed is the lower confirming rate.
    assert capacity.confirm(holds, 30, 32, [15, 30]) == (None, 27.6)
    assert tried == [30, 27.6], "at most MAX_CONFIRMATIONS runs"
    assert capacity.confirm(holds, 0.0, 5, []) == (None, 5), "nothing passed: nothing to confirm"


def test_saved_results_whose_confirmation_failed_show_no_capacity():
    """make report's capacity results of 6a7dff6 (tests/data/capacity-6a7dff6.json), saved before the bracket: its
    capacity_per_s is the rate found even where the confirming run failed; read by the new rule, such a row has
    none."""
    results = load(Path(__file__).parent / "data" / "capacity-6a7dff6.json", SuiteResults)
    runs = {run.server: run for run in results.runs}
    pool = runs["4_async_processexecutor"]
    assert pool.capacity_per_s == 25.2 and pool.confirmed is False, "the old record, as saved"
    assert pool.capacity_bracket() == (None, 25.2)
    assert columns.capacity(pool) == "not confirmed" and columns.capacity_ratio(pool) is None
    assert runs["2_async"].capacity_bracket() == (12.6, 13.0)
    assert columns.capacity(runs["2_async"]) == "12.6*", "judged on p99 alone: said so"
    # Steps that stopped early on their p99 have no backlog reading in any results: no mark for those alone.
    judged = [replace(step, steady=None if step.stopped_early else True) for step in runs["2_async"].steps]
    assert (
        any(step.steady is None for step in judged) and columns.capacity(replace(runs["2_async"], steps=judged)) == 12.6
    )
    for run in results.runs:
        confirmed, failed = run.capacity_bracket()
        assert (confirmed is not None) == bool(run.confirmed)
        assert confirmed is None or confirmed < failed


def test_a_real_server_over_its_limit_grows_a_backlog_and_fails(start_server):
    """1_sync answers one request at a time; with the sleep task of 100 ms it completes 10 a second at most. At 15 a
    second the backlog grows by ~5 requests a second, at 4 it holds. Short steps: 3 s each."""
    server = start_server(by_name("1_sync"), "--task", "sleep")
    url = f"http://{HOST}:{server.port}/?n=100"
    over = openloop.run(url, 15, 3, drain_s=10)
    under = openloop.run(url, 4, 3, drain_s=10)
    assert over["failed"] == under["failed"] == 0, (over, under)
    first, second = over["in_flight_halves"]
    assert second - first > 3, over["in_flight_halves"]
    assert capacity.steady(over["in_flight_halves"], 15, 3) is False
    assert capacity.steady(under["in_flight_halves"], 4, 3) is True, under["in_flight_halves"]
