"""A closed-loop table compared over its rounds (harness/rounds.py): each strategy at its best pool size, its
tasks/s as a ratio to the process pool on the same Python taken round by round (the machine's drift cancels, and no
ratio is between two interpreters), with its interval; the row to use among those equal to the first, by what a
reader adds to their stack, then by memory beyond its spread."""

import collections
import re
from dataclasses import dataclass

from harness import rounds as stats
from harness.records.suite import Run
from harness.report.tables import DOWN_PCT, RESPONSIVE_MS, rounds_merged
from harness.servers import INTERPRETER, PROCESS_POOL, RUNS_IN_ADDS, SERVERS, STACK, YARDSTICKS


def unavailable(run):
    return run.health_ms.unavailable_pct or 0


def server_of(run):
    """The harness/servers.py row of the run's strategy, on its build (a free-threaded twin's traits may differ:
    Granian's workers are threads there); None for a strategy no longer listed."""
    named = [s for s in SERVERS + YARDSTICKS if s.name == run.strategy]
    return next((s for s in named if s.free_threaded == bool(run.free_threaded)), named[0] if named else None)


def runs_in(run):
    """Where the run's task ran (harness/servers.py Server.runs_in); "server" for a strategy no longer listed."""
    server = server_of(run)
    return server.runs_in if server else "server"


def adds(run, suite_python):
    """What a reader adds to their stack for the run's strategy (harness/servers.py STACK): by where its task runs
    (pre-fork copies that run their tasks in a pool of their own add that pool), and another interpreter or build
    for a row not on the suite's Python."""
    server = server_of(run)
    pooled_copies = server is not None and server.runs_in == "copies" and server.pool_option is not None
    own = (server and server.adds) or RUNS_IN_ADDS["threads" if pooled_copies else runs_in(run)]
    if run.free_threaded or (run.python and run.python != suite_python):
        return max(own, INTERPRETER, key=STACK.index)
    return own


def python_of(run, suite_python):
    """The row's interpreter as a table names it: "3.11.7", "3.13.0", "3.13.15t"."""
    return run.python or suite_python


@dataclass(frozen=True)
class Row:
    run: Run  # the row's runs merged over the rounds (their medians)
    python: str
    adds: str  # an entry of harness/servers.py STACK
    pool: str = None  # the label of the process pool on the same Python; None: none measured there
    ratio: stats.Interval = None  # tasks/s ÷ that pool's, round by round; None without the pool
    against: str = None  # what it is compared with: its pool, or in a table without any, the first row

    @property
    def label(self):
        return self.run.server


def named(row, suite_python):
    """The row as a sentence names it, its interpreter said where it is not the suite's: "3_async_threadexecutor
    (Python 3.13.15t)" for the free-threaded twin."""
    label = re.sub(r" \((?:free-threaded|beside [^)]*)\)$", "", row.label)
    return label + (f" (Python {row.python})" if row.python != suite_python else "")


@dataclass(frozen=True)
class Comparison:
    rows: list  # [Row], every strategy at its best size, highest ratio first
    chosen: Row = None  # the one to use: None if no row kept /health answered with a pool to compare with
    reason: str = ""  # why it, in the answer's words
    equal: list = ()  # the other rows equal to the first, closest first
    slower: list = ()  # the rows clearly slower than the first, slowest last
    rounds: int = 0
    untold: list = ()  # the rows further below than the margin whose interval still reaches it: not told apart


POOL_SIZE = r" --(?:workers|threads) \d+"  # a row's pool sized for the load
CONNECTIONS = r" --db-pool \d+"  # the db kind's connections a process, sized for the load


def unsized(label):
    """The row's label without what was sized for the load, its pool and its database connections:
    "3_async_threadexecutor --workers 25 --db-pool 25 (free-threaded)" -> "3_async_threadexecutor (free-threaded)"."""
    return re.sub(CONNECTIONS, "", re.sub(POOL_SIZE, "", label))


def best_rows(merged, rounds):
    """Each strategy's best row on each Python (its default size or the size for the load, as a reader sizes a
    pool): the one that kept /health answered first, then the one measured in more rounds (`rounds`: {label:
    count}; the rounds go on with the size the first found best, and one round's figure against the median of
    several would compare two moments of the machine's drift), then the one with more tasks/s."""
    best = {}
    for run in merged:
        known = best.get(unsized(run.server))
        if known is None or size_rank(run, rounds) > size_rank(known, rounds):
            best[unsized(run.server)] = run
    return list(best.values())


def size_rank(run, rounds):
    return unavailable(run) <= DOWN_PCT, rounds.get(run.server, 0), run.throughput


def measured(runs):
    return [run for run in runs if run.measured and run.throughput]


def by_round(runs):
    """The runs as rounds: [{label: run}], one dict a round (run.round)."""
    count = max((run.round for run in runs), default=-1) + 1
    return [{run.server: run for run in runs if run.round == index} for index in range(count)]


def within_round(one, row, other):
    """row's tasks/s ÷ other's in one round ({label: run}), both counted the same way: in steady state if both
    were, else siege's for both (a steady count over an edge-biased one would be a ratio of two methods); None if
    the round lacks either."""
    if row not in one or other not in one:
        return None
    mine, theirs = one[row], one[other]
    if mine.steady_tasks_per_s and theirs.steady_tasks_per_s:
        return mine.steady_tasks_per_s / theirs.steady_tasks_per_s
    return mine.transaction_rate / theirs.transaction_rate if theirs.transaction_rate else None


def interval_within(rounds, row, other):
    """The Interval of row ÷ other over the rounds that measured both (within_round); None if none did."""
    ratios = [ratio for ratio in (within_round(one, row, other) for one in rounds) if ratio]
    return stats.interval(ratios) if ratios else None


def normalized(runs, suite_python):
    """(the rows, each strategy at its best size, highest ratio first; the rounds as [{label: value}], each row's
    tasks/s over the process pool's on the same Python in that round, or, where the table has no pool, over the
    first row's on the suite's Python; the rounds' runs, [{label: run}]; whether it has a pool) of one closed-loop
    table's runs, every round's."""
    runs = measured(runs)
    merged = best_rows(rounds_merged(runs), collections.Counter(run.server for run in runs))
    rounds = by_round(runs)
    pools = {python_of(run, suite_python): run.server for run in merged if run.strategy == PROCESS_POOL}
    # Without a pool (a table of a few servers), rows compare directly, on the suite's Python only.
    base = next((run.server for run in merged if python_of(run, suite_python) == suite_python), None)
    rows = []
    for run in merged:
        python = python_of(run, suite_python)
        against = pools.get(python) or (base if not pools and python == suite_python else None)
        ratio = interval_within(rounds, run.server, against) if pools.get(python) else None  # the pool itself: 1
        rows.append(Row(run, python, adds(run, suite_python), pools.get(python), ratio, against))
    rows.sort(key=lambda row: (-(row.ratio.estimate if row.ratio else 0), -row.run.throughput))
    normal = [
        {
            label: ratio
            for label, ratio in ((row.label, within_round(one, row.label, row.against)) for row in rows)
            if ratio
        }
        for one in rounds
    ]
    return rows, normal, rounds, bool(pools)


def candidates(rows, has_pools, unfit=()):
    """The labels of the rows the choice is among: with a ratio (or no pool in the table at all), /health kept
    answered, able to do the work, in the suite's order (a stated order: it breaks a tie among the equally
    simple, so that two sittings name the same row)."""
    fit = [
        row
        for row in rows
        if row.against
        and (row.ratio or not has_pools)
        and not (row.label == row.pool and row.adds == INTERPRETER)  # another Python's yardstick: 1 by definition
        and unavailable(row.run) <= DOWN_PCT
        and unsized(row.label) not in unfit
    ]
    return [row.label for row in sorted(fit, key=lambda row: suite_order(row.run))]


def quick(of):
    """Whether a row's /health p99 is known and under RESPONSIVE_MS (rounds.choose's `responsive`)."""
    return lambda label: (p99 := of[label].run.health_ms.p99) is not None and p99 < RESPONSIVE_MS


def compare(runs, suite_python, unfit=(), margin=stats.MARGIN, stack=None, apart=()):
    """The Comparison of one closed-loop table from its runs, every round's (run.round), leaving out of the choice
    the rows whose unsized label is in `unfit` (they cannot do the reader's work), with `stack` the rows of
    other web stacks (stack_rows: a framework's users choose among its own), and the rows of the frameworks in
    `apart` (whose users have answers of their own: another framework is not a strategy for an app written in one)."""
    rows, normal, rounds, has_pools = normalized(runs, suite_python)
    memory = [{label: run.peak_pss_mb for label, run in one.items() if run.peak_pss_mb} for one in rounds]
    listed = candidates(
        [
            row
            for row in rows
            if (stack is None or stack_rows(row, stack, suite_python)) and framework(row) not in apart
        ],
        has_pools,
        unfit,
    )
    if not listed:
        return Comparison(rows, rounds=len(normal))
    of = {row.label: row for row in rows}
    chosen, reason = stats.choose(normal, listed, lambda label: of[label].adds, memory, margin, quick(of))
    lead, tied = stats.equals(normal, listed, margin)
    by_ratio = [row for row in rows if row.label in listed]
    equal = [row for row in by_ratio if row.label in tied and row.label != chosen]
    verdicts = {row.label: stats.verdict(normal, row.label, lead, margin) for row in by_ratio}
    slower = [row for row in by_ratio if verdicts[row.label] == "slower"]
    untold = [row for row in by_ratio if verdicts[row.label] == "untold"]
    return Comparison(rows, of[chosen], reason, equal, slower, len(normal), untold)


def going_on(runs, suite_python, cap, unfit=(), stacks=()):
    """The labels of one closed-loop table to measure in another round (harness/rounds.py still_open on the ratios
    to each Python's pool): the contenders until their interval settles their place or `cap` rounds are reached,
    and what they are measured against (their pool, or the first row in a table without one); every strategy at
    its best size for the first two rounds (a pool's other size, the trap for waiting work, is shown from the
    first round alone: it is not in the choice). With `unfit` (rows the short answer leaves out for this work),
    the contenders of the table's first and those of the answer's both: a leader the answer cannot name must not
    settle the rows it chooses among; likewise for each web stack in `stacks` (the answer's rows for one
    framework's users choose among that stack's rows alone)."""
    rows, normal, _, has_pools = normalized(runs, suite_python)
    if len(normal) < 2:  # and a row that failed in the first round is tried again: its two rounds are yet to come
        never = {run.server for run in runs} - {run.server for run in measured(runs)}
        return {row.label for row in rows} | {row.pool for row in rows if row.pool} | never
    listed = candidates(rows, has_pools)
    if not listed:
        return set()
    of = {row.label: row.adds for row in rows}
    open_rows = set(stats.still_open(normal, listed, cap, stack_of=of.get))
    if fit := candidates([row for row in rows if framework(row) not in stacks], has_pools, unfit):
        open_rows |= set(stats.still_open(normal, fit, cap, stack_of=of.get))
    for stack in stacks:
        own = [row for row in rows if stack_rows(row, stack, suite_python)]
        if fit := candidates(own, has_pools, (*unfit, PROCESS_POOL)):
            open_rows |= set(stats.still_open(normal, fit, cap, stack_of=of.get))
    against = {row.against for row in rows if row.label in open_rows and row.against}
    return open_rows | against


def framework(row):
    """The framework the row's app is written in (harness/servers.py Server.framework); None if no longer listed."""
    server = server_of(row.run)
    return server.framework if server else None


def stack_rows(row, stack, suite_python):
    """Whether a row is one of a framework's own (harness/servers.py Server.framework) on the suite's Python, or
    the process pool there that they are measured against: a framework's users choose among the former."""
    server = server_of(row.run)
    return (
        server is not None and (server.framework == stack or server.name == PROCESS_POOL) and row.python == suite_python
    )


def suite_order(run):
    """The run's strategy's place in harness/servers.py's list (yardsticks last), then its sized variant after."""
    listed = SERVERS + YARDSTICKS
    place = next(
        (index for index, s in enumerate(listed) if s.name == run.strategy and s.free_threaded == run.free_threaded),
        len(listed),
    )
    return place, len(run.server)
