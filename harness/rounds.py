"""Rounds of a comparison: each row's tasks/s as a ratio to another row's measured in the same round (the machine's
drift, tens of percent within minutes, cancels in the ratio), a 95 % interval over the rounds, and ties said as
ties, broken by a stated order rather than by noise.

A round measures every row of a comparison once, in a shuffled order. The ratio of two rows is taken within each
round; over the rounds, its estimate is the median of the rounds' ratios, and its interval Student's t on their
logarithms (ratios multiply: 0.5 and 2 are as far from 1), so it reads as "× 0.97 (0.91–1.03, 4 rounds)". The
median, because a run disturbed by other work on the machine moves its round's ratio by tens of percent (a sitting
with tests run beside its first round: the process pool at 17 tasks/s there, 25 to 28 after): one such round
moves a mean, and the answer with it, not a median of three or four; the interval still widens, and shows it. The
leader is the row with the highest estimate against the pool on its own Python, counted above that pool only where
its interval shows it faster (else level with it, 1): a noisy row on another interpreter, ×1.08 (0.85–1.38), must
not push the pool out of the rows equal to the first. A row whose ratio to the leader is within MARGIN of it is
equal to it, and the answer picks among equals by what a reader must add to their stack (STACK), then by a /health kept
quick, then by memory only where memory differs beyond its own spread over the rounds. A row further behind whose
interval still reaches within MARGIN is said as not told apart, and not picked: with a wide interval, "not shown
slower" would pick the simplest row however slow a noisy sitting made it look (2_async --cooperative at 0.63 of
the pool, on a busy machine); and an estimate floor below the margin put a row that sat at it (the cooperative row
on http, 0.89) in and out of the answer by sitting. The rounds go on while a row's interval spans the margin.
"""

import math
import statistics
from dataclasses import dataclass

from scipy import stats

from harness.servers import STACK  # what a reader adds for a strategy, simplest first: the order that breaks a tie

CONFIDENCE = 0.95
# Rows within 5 % of the leader are equal: closer than that, a ranking would be decided by the machine, not the
# strategy (a row measured several times in one sitting moved by more).
MARGIN = 0.05


@dataclass(frozen=True)
class Interval:
    """A ratio over rounds: its estimate (the median of the rounds' ratios) and the interval at
    CONFIDENCE; low and high are None with a single round, which has no spread to go by."""

    estimate: float
    low: float | None
    high: float | None
    rounds: int

    def text(self, digits=2, rounds=True):
        """ "0.97 (0.91–1.03, 4 rounds)"; without the count of rounds where a heading says it."""
        if self.low is None:
            return f"{self.estimate:.{digits}f}" + (" (1 round)" if rounds else "")
        count = f", {self.rounds} rounds" if rounds else ""
        return f"{self.estimate:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f}{count})"


def interval(ratios, confidence=CONFIDENCE):
    """The Interval of a ratio from its value in each round (all > 0)."""
    if not ratios or any(ratio <= 0 for ratio in ratios):
        raise ValueError(f"ratios must be positive, one per round: {ratios}")
    logs = [math.log(ratio) for ratio in ratios]
    estimate, centre = math.exp(statistics.median(logs)), statistics.fmean(logs)
    if len(logs) == 1:
        return Interval(estimate, None, None, 1)
    half = stats.t.ppf((1 + confidence) / 2, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return Interval(estimate, math.exp(centre - half), math.exp(centre + half), len(logs))


def paired(rounds, row, other):
    """row's value ÷ other's, within each round that measured both: rounds are [{label: value}, ...]."""
    return [one[row] / one[other] for one in rounds if one.get(row) and one.get(other)]


def against(rounds, row, other, confidence=CONFIDENCE):
    """The Interval of row ÷ other over the rounds that measured both; None if none did."""
    ratios = paired(rounds, row, other)
    return interval(ratios, confidence) if ratios else None


def leader(rounds, rows):
    """The row with the most tasks/s: the highest estimate of its values over every round that measured it (each
    value a ratio within its round, to the pool on the row's Python: drift cancels, and a row is judged on all its
    rounds, not only on those in which some other row also ran), counted above 1 only where its interval shows it
    above the pool (else level with it); the first of `rows` if level."""

    def standing(row):
        values = [one[row] for one in rounds if one.get(row)]
        if not values:
            return 0.0
        found = interval(values)
        return found.estimate if found.low is not None and found.low > 1 else min(found.estimate, 1.0)

    return max(rows, key=standing)


def verdict(rounds, row, lead, margin=MARGIN):
    """How row stands against the leader: "equal" (its ratio within `margin` of the leader), "untold" (further
    behind, its interval still reaching within `margin`: not told apart, not picked), "slower" (its whole interval
    further below). With one round there is no interval: its ratio alone against the margin (the tables say "1
    round"). The leader is equal to itself; None if no round measured both."""
    if row == lead:
        return "equal"
    found = against(rounds, row, lead)
    if found is None:
        return None
    if found.estimate >= 1 - margin:
        return "equal"
    return "untold" if found.high is not None and found.high >= 1 - margin else "slower"


def settled(rounds, row, lead, margin=MARGIN):
    """Whether more rounds could still change row's verdict: no once its interval lies wholly on one side of
    1 - margin (surely slower, or surely within the margin)."""
    if row == lead:
        return True
    found = against(rounds, row, lead)
    return found is not None and found.low is not None and (found.high < 1 - margin or found.low >= 1 - margin)


def beyond_choice(rounds, tied, row, stack_of, margin=MARGIN):
    """Whether more rounds of row could no longer change the row chosen: it adds more to a reader's stack than the
    simplest of `tied`, the rows equal to the leader (equals), so it is never picked over them, and each of those
    is surely within the margin of it (so that, were it to lead, they would still be equal to it)."""
    level = min(STACK.index(stack_of(one)) for one in tied)
    if STACK.index(stack_of(row)) <= level:
        return False
    simplest = [one for one in tied if STACK.index(stack_of(one)) == level]
    return all(
        (found := against(rounds, one, row)) is not None and found.low is not None and found.low >= 1 - margin
        for one in simplest
    )


def still_open(rounds, rows, cap, margin=MARGIN, stack_of=None):
    """The rows that need another round: after two rounds, those clearly out stop, and the rest go on until their
    interval against the leader settles their verdict, or `cap` rounds are reached. With `stack_of` (what a row
    adds, as choose takes it), a row stops too once it can no longer change the choice (beyond_choice): the rounds
    go where the decision is."""
    if len(rounds) < 2:
        return list(rows)
    if len(rounds) >= cap:
        return []
    lead, tied = equals(rounds, rows, margin)
    contenders = [
        row
        for row in rows
        if row != lead
        and not settled(rounds, row, lead, margin)
        and not (stack_of and beyond_choice(rounds, tied, row, stack_of, margin))
    ]
    # The leader alone has nothing left to be told from.
    return [row for row in rows if row == lead or row in contenders] if contenders else []


def equals(rounds, rows, margin=MARGIN):
    """(the leader, the rows equal to it, the leader first): those the answer chooses among."""
    lead = leader(rounds, rows)
    return lead, [lead, *(row for row in rows if row != lead and verdict(rounds, row, lead, margin) == "equal")]


def clearly_less(memory_rounds, row, other, confidence=CONFIDENCE):
    """Whether row's memory is below other's beyond the spread of their rounds: the interval of their ratio lies
    wholly below 1 (a single round has no spread: never)."""
    found = against(memory_rounds, row, other, confidence)
    return found is not None and found.high is not None and found.high < 1


def choose(rounds, rows, stack_of, memory_rounds=(), margin=MARGIN, responsive=lambda row: True):
    """The row the answer names, and why: (row, reason). Among the rows equal to the leader, the simplest by
    STACK (`stack_of(row)` is one of its entries); among the equally simple, those `responsive` (their /health
    kept answering quickly) if any are; of those, the first in the order `rows` are given in (the suite's: a
    stated order, so that a second sitting names the same row), unless another is in clearly less memory."""
    lead, tied = equals(rounds, rows, margin)
    if len(tied) == 1:
        return lead, "the most tasks/s"
    simplest = min(STACK.index(stack_of(row)) for row in tied)
    candidates = [row for row in rows if row in tied and STACK.index(stack_of(row)) == simplest]
    reason = f"equal within {margin * 100:g} % of the first: the simplest ({STACK[simplest]} added)"
    quick = [row for row in candidates if responsive(row)]
    if quick and len(quick) < len(candidates):
        candidates, reason = quick, reason + " that kept /health quick"
    first = candidates[0]
    lighter = [row for row in candidates[1:] if clearly_less(memory_rounds, row, first)]
    return (lighter[0], reason + ", in clearly less memory") if lighter else (first, reason)
