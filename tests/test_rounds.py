"""The rounds of a comparison: known spreads give known intervals, ties are said as ties and broken by the stated
order, never by a few tasks or 0.3 MB."""

import math
import statistics

import pytest

from harness import rounds

T_975_DF2 = 4.302652729749462  # Student's t, 97.5th percentile, 2 degrees of freedom (any t table)
T_975_DF3 = 3.182446305284263


def test_an_interval_is_student_t_on_the_logarithms_of_the_ratios():
    found = rounds.interval([0.9, 1.0, 1.1])
    logs = [math.log(0.9), 0.0, math.log(1.1)]
    half = T_975_DF2 * statistics.stdev(logs) / math.sqrt(3)
    assert found.rounds == 3
    assert found.estimate == pytest.approx(math.exp(statistics.median(logs))), "the median round's ratio"
    assert found.low == pytest.approx(math.exp(statistics.fmean(logs) - half))
    assert found.high == pytest.approx(math.exp(statistics.fmean(logs) + half))
    assert found.text() == "1.00 (0.78–1.28, 3 rounds)"


def test_a_ratio_and_its_inverse_have_mirrored_intervals():
    up, down = rounds.interval([1.2, 1.5, 1.3, 1.4]), rounds.interval([1 / 1.2, 1 / 1.5, 1 / 1.3, 1 / 1.4])
    assert up.low == pytest.approx(1 / down.high) and up.high == pytest.approx(1 / down.low)


def test_one_round_has_no_interval_and_bad_ratios_are_refused():
    assert rounds.interval([0.8]).text() == "0.80 (1 round)"
    with pytest.raises(ValueError, match="positive"):
        rounds.interval([1.0, 0.0])
    with pytest.raises(ValueError):
        rounds.interval([])


def drifting(rates, drift=(1.0, 0.8, 1.15, 0.9)):
    """Rounds in which the machine's speed drifts by tens of percent, every row alike: {row: base rate}."""
    return [{row: rate * speed for row, rate in rates.items()} for speed in drift]


def test_drift_cancels_within_a_round():
    found = rounds.against(drifting({"threads": 23.0, "processes": 24.0}), "threads", "processes")
    assert found.estimate == pytest.approx(23 / 24) and found.high - found.low < 1e-9, "the same ratio each round"


def test_a_row_a_few_tasks_behind_the_leader_is_equal_and_the_stated_order_picks():
    """The hash table's case: plain threads a few tasks behind subinterpreters. Equal within the margin, the answer
    names the simpler stack, whichever counted two more tasks and whichever used 0.3 MB less."""
    measured = [
        {"threads": 130, "interpreters": 133, "processes": 100},
        {"threads": 134, "interpreters": 131, "processes": 98},
        {"threads": 129, "interpreters": 135, "processes": 101},
    ]
    stack = {"threads": "a standard-library pool", "interpreters": "another interpreter or build"}.get
    memory = [{"threads": 22.3, "interpreters": 22.0}] * 3
    lead, tied = rounds.equals(measured, ["processes", "threads", "interpreters"])
    assert lead == "interpreters" and set(tied) == {"interpreters", "threads"}
    row, reason = rounds.choose(
        measured, ["processes", "threads", "interpreters"], lambda r: stack(r) or "nothing", memory
    )
    assert row == "threads", "the simpler stack, not 0.3 MB"
    assert "equal within 5 %" in reason and "a standard-library pool" in reason


def test_memory_breaks_a_tie_only_beyond_its_own_spread():
    rates = [{"a": 100, "b": 98}, {"a": 100, "b": 99}, {"a": 100, "b": 97.5}]  # a leads, b within 5 %
    same_stack = lambda row: "a standard-library pool"  # noqa: E731
    close = [{"a": 40.0, "b": 39.7}, {"a": 39.5, "b": 39.9}, {"a": 40.2, "b": 39.8}]
    assert rounds.choose(rates, ["a", "b"], same_stack, close)[0] == "a", "0.3 MB within its spread: the leader"
    apart = [{"a": 40.0, "b": 22.0}, {"a": 41.0, "b": 22.5}, {"a": 39.0, "b": 21.8}]
    row, reason = rounds.choose(rates, ["a", "b"], same_stack, apart)
    assert row == "b" and "clearly less memory" in reason


def test_among_the_equally_simple_the_stated_order_picks_not_the_point_estimate():
    """Two sittings in which two pools trade the lead by a task or two name the same row: the first in the order
    given (the suite's), since the interval cannot tell them apart."""
    sitting_a = [{"pool": 24.0, "fastapi": 24.6}, {"pool": 23.1, "fastapi": 23.5}, {"pool": 22.0, "fastapi": 22.3}]
    sitting_b = [{"pool": 24.4, "fastapi": 24.0}, {"pool": 23.3, "fastapi": 23.1}, {"pool": 22.5, "fastapi": 22.0}]
    same_stack = lambda row: "a standard-library pool"  # noqa: E731
    picks = {rounds.choose(sitting, ["pool", "fastapi"], same_stack)[0] for sitting in (sitting_a, sitting_b)}
    assert rounds.leader(sitting_a, ["pool", "fastapi"]) != rounds.leader(sitting_b, ["pool", "fastapi"])
    assert picks == {"pool"}


def test_one_round_compares_its_ratio_with_the_margin_alone():
    one = [{"pool": 24.0, "threads": 23.2, "async": 11.0}]
    assert rounds.verdict(one, "threads", "pool") == "equal" and rounds.verdict(one, "async", "pool") == "slower"
    assert not rounds.settled(one, "threads", "pool"), "one round settles nothing"


def test_a_clearly_slower_row_is_out_after_two_rounds_and_contenders_go_on_to_the_cap():
    two = [{"pool": 24, "async": 12, "threads": 23.5}, {"pool": 22, "async": 11.2, "threads": 22.8}]
    assert rounds.verdict(two, "async", "pool") == "slower"
    assert rounds.still_open(two, ["pool", "async", "threads"], cap=6) == ["pool", "threads"]
    assert rounds.still_open(two[:1], ["pool", "async"], cap=6) == ["pool", "async"], "one round: all go on"
    assert rounds.still_open(two * 3, ["pool", "async", "threads"], cap=6) == [], "the cap ends it"


def test_a_row_surely_within_the_margin_is_settled_and_an_unsettled_one_is_equal():
    steady = [{"a": 100, "b": 99}, {"a": 100, "b": 99.5}, {"a": 100, "b": 98.8}]
    assert rounds.settled(steady, "b", "a") and rounds.verdict(steady, "b", "a") == "equal"
    noisy = [{"a": 100, "b": 80}, {"a": 100, "b": 105}, {"a": 100, "b": 92}]
    assert not rounds.settled(noisy, "b", "a"), "its interval spans 0.95: another round could tell"
    assert rounds.verdict(noisy, "b", "a") == "untold", "8 % behind: not told apart, but not equal either"


def test_a_noisy_sitting_does_not_make_the_simplest_row_the_answer_however_slow():
    """Rounds on a machine busy with other work: the pool's tasks/s swing by half; the event loop's ratio, 0.63,
    has an interval reaching past 1. It is not told apart, and the answer still names a pool."""
    noisy = [{"pool": 24.0, "loop": 9.0}, {"pool": 12.0, "loop": 11.5}, {"pool": 20.0, "loop": 10.0}]
    stack = {"pool": "a standard-library pool", "loop": "nothing", "free": "another interpreter or build"}.get
    assert rounds.verdict(noisy, "loop", "pool") == "untold"
    assert rounds.choose(noisy, ["loop", "pool"], stack)[0] == "pool"
    # The http table's case (4 rounds, ratios to the thread pool): the event loop 11 % behind, its interval just
    # reaching 0.95. Equal by the interval alone, and by a floor at 0.90 in one sitting out of two: not told apart,
    # never the answer, in every sitting whose ratio stays clear of the margin.
    http = [
        {"pool": 1.0, "loop": 0.90},
        {"pool": 1.0, "loop": 0.936},
        {"pool": 1.0, "loop": 0.89},
        {"pool": 1.0, "loop": 0.853},
    ]
    assert rounds.against(http, "loop", "pool").high > 0.95 and rounds.verdict(http, "loop", "pool") == "untold"
    assert rounds.choose(http, ["loop", "pool"], stack)[0] == "pool"


def test_the_interval_matches_the_t_table_for_four_rounds():
    ratios = [0.95, 1.02, 0.98, 1.05]
    logs = [math.log(r) for r in ratios]
    half = T_975_DF3 * statistics.stdev(logs) / 2
    assert rounds.interval(ratios).high == pytest.approx(math.exp(statistics.fmean(logs) + half))


def test_rows_never_measured_in_the_same_round_are_not_compared_and_a_lone_leader_stops():
    apart = [{"pool": 24.0, "threads": 23.0}, {"pool": 23.0, "twin": 13.0}]
    assert rounds.verdict(apart, "twin", "threads") is None and not rounds.settled(apart, "twin", "threads")
    settled = [{"pool": 24.0, "async": 12.0}, {"pool": 22.0, "async": 11.0}, {"pool": 23.0, "async": 11.4}]
    assert rounds.still_open(settled, ["pool", "async"], cap=6) == [], "nothing left to tell the leader from"


def test_the_leader_is_judged_on_all_its_rounds_not_on_those_of_the_first_row():
    """A slow first row that stopped after two rounds does not decide who leads: the pool leads over four rounds
    (values are ratios to it within each round), though another row was ahead in the first two."""
    ratios = [
        {"slow": 0.5, "pool": 1, "free": 0.99, "other": 0.95},
        {"slow": 0.5, "pool": 1, "free": 1.03, "other": 0.83},
        {"pool": 1, "free": 0.95, "other": 0.94},
        {"pool": 1, "free": 0.96, "other": 0.85},
    ]
    assert rounds.leader(ratios, ["slow", "pool", "free", "other"]) == "pool"
    assert rounds.leader(ratios, ["pool", "free", "other"]) == "pool", "whichever row comes first"


def test_a_row_that_can_no_longer_change_the_choice_stops_and_one_that_still_could_goes_on():
    """Three rounds of waiting work: the cluster, a little behind the pool, adds more than the pool, and the pool is
    surely within the margin of it (were it to lead, the pool would still be equal), so more rounds of it cannot
    change the row named; the event loop adds less, and its interval spans the margin, so it goes on, with the
    leader; without `stack_of` the cluster goes on too, as its own verdict is not settled."""
    three = [
        {"pool": 1.0, "cluster": 0.90, "loop": 0.93},
        {"pool": 1.0, "cluster": 0.96, "loop": 0.99},
        {"pool": 1.0, "cluster": 0.93, "loop": 0.90},
    ]
    stack = {"pool": "a standard-library pool", "loop": "nothing", "cluster": "a cluster"}.get
    rows = ["loop", "pool", "cluster"]
    assert not rounds.settled(three, "cluster", "pool"), "its own interval spans the margin"
    tied = rounds.equals(three, rows)[1]
    assert rounds.beyond_choice(three, tied, "cluster", stack)
    assert not rounds.beyond_choice(three, tied, "loop", stack), "simpler than the row named: it could take its place"
    assert rounds.still_open(three, rows, cap=6) == ["loop", "pool", "cluster"]
    assert rounds.still_open(three, rows, cap=6, stack_of=stack) == ["loop", "pool"]
    # A cluster that might lead by more than the margin could push the pool out: it goes on.
    ahead = [{"pool": 1.0, "cluster": ratio, "loop": 0.5} for ratio in (1.0, 1.12, 0.97)]
    assert not rounds.beyond_choice(ahead, rounds.equals(ahead, rows)[1], "cluster", stack)
    assert "cluster" in rounds.still_open(ahead, rows, cap=6, stack_of=stack)


def test_one_disturbed_round_does_not_pick_the_row_and_an_unshown_lead_does_not_push_the_pool_out():
    """Four rounds of cpu as a sitting measured them while tests ran beside its first rounds (ratios to each row's
    own pool): the free-threaded thread pool's pool was slow in one round, its ratio 1.32 there, ×1.08 by a mean.
    Its interval reaches below 1: its lead over its pool is not shown, so it is level with the pool, which stays
    among the equal and is named; plain threads' one round at 1.21 (the pool disturbed) does not make them equal."""
    sitting = [
        {"pool": 1.0, "free threads": 0.94, "threads": 1.21},
        {"pool": 1.0, "free threads": 1.32, "threads": 0.94},
        {"pool": 1.0, "free threads": 0.99, "threads": 0.94},
        {"pool": 1.0, "free threads": 1.13, "threads": 0.91},
    ]
    stack = {"pool": "a standard-library pool", "threads": "a standard-library pool"}
    stack_of = lambda row: stack.get(row, "another interpreter or build")  # noqa: E731
    assert rounds.interval([0.94, 1.32, 0.99, 1.13]).low < 1 < rounds.interval([0.94, 1.32, 0.99, 1.13]).estimate
    assert rounds.leader(sitting, ["threads", "pool", "free threads"]) == "pool"
    assert rounds.verdict(sitting, "threads", "pool") != "equal", "median 0.94: the disturbed round does not count"
    assert rounds.choose(sitting, ["threads", "pool", "free threads"], stack_of)[0] == "pool"
    # A lead its interval shows stands: the row leads, and a pool 8 % behind it is not equal.
    shown = [{"pool": 1.0, "free threads": ratio} for ratio in (1.07, 1.09, 1.08, 1.08)]
    assert rounds.leader(shown, ["pool", "free threads"]) == "free threads"
    assert rounds.verdict(shown, "pool", "free threads") != "equal"
