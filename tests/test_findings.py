"""The findings under the tables and the short answer are said by rules from the results: checked on runs whose
figures are known."""

from dataclasses import replace

from harness.records.blocks import ClusterLoad, ClusterResults, FaultRun
from harness.records.suite import Environment, Health, Run, SuiteResults, TaskKind
from harness.report import answer, findings


def run(server, rate, efficiency, strategy=None, down=0.0, p99=5.0, task="cpu", free_threaded=False, pss=50.0):
    return Run(
        server=server,
        strategy=strategy or server.split(" ")[0],
        task=task,
        mode="closed",
        concurrency=25,
        measured=True,
        transaction_rate=rate,
        efficiency=efficiency,
        health_ms=Health(p99=p99, unavailable_pct=down),
        peak_pss_mb=pss,
        free_threaded=free_threaded,
    )


ENV = Environment(
    cpu="a test CPU",
    cpu_count=2,
    os="Linux",
    python="3.11.7",
    commit="0" * 40,
    started="2026-12-01T00:00:00+00:00",
    tasks={
        "cpu": TaskKind(n=140_000, t1_s=0.08, t1_s_end=0.08, waits=False),
        "sleep": TaskKind(n=100, t1_s=0.1, t1_s_end=0.1, waits=True),
    },
)


def cluster_of(*runs):
    """The hosts' results of these fault runs."""
    load = ClusterLoad(rate=4, run_s=40, users=2, fault_at_s=10, follow_s=60)
    return ClusterResults(environment=ENV, load=load, runs=[FaultRun(**found) for found in runs])


CPU = [
    run("1_sync", 12.0, 0.48, down=60.0, p99=5000.0),
    run("4_async_processexecutor", 24.0, 0.96),
    run("7_async_interpreterpool", 23.5, 0.94, pss=60.0),
    run("3_async_threadexecutor", 12.2, 0.49, p99=500.0),
    run("4_async_processexecutor (free-threaded)", 14.0, 0.97, "4_async_processexecutor", free_threaded=True),
]


def test_the_first_does_the_most_tasks_and_keeps_health_answered_and_its_ties_are_said():
    _order, first, tied, _share = findings.ranked(CPU)
    assert first.strategy == "4_async_processexecutor" and not first.free_threaded, "the twin is not ranked"
    assert [r.server for r in tied] == ["7_async_interpreterpool"], "23.5 is within 5 % of 24.0"
    text = " ".join(findings.findings(CPU).split())
    assert "as fast within 5 % (not told apart), in more memory: 7_async_interpreterpool (23.50, 60 MB)" in text
    assert "1_sync 0.50×" in text and "(free-threaded) 0.58×" in text, "against the pool with the GIL"
    assert "1_sync (60 %)" in text and "3_async_threadexecutor (" not in text.split("unanswered")[1]


def test_of_rows_as_fast_the_first_is_the_one_in_the_least_memory():
    assert findings.ranked(CPU)[1].server == "4_async_processexecutor"
    small = [replace(r, peak_pss_mb=20.0) if r.server == "7_async_interpreterpool" else r for r in CPU]
    assert findings.ranked(small)[1].server == "7_async_interpreterpool", "23.5 against 24.0: as fast, smaller"


def test_a_short_run_widens_what_cannot_be_told_apart():
    counted = [replace(r, transactions=100) for r in CPU]  # 1 / sqrt(100): 10 %
    assert findings.ranked(counted)[3] == 0.1 and findings.ranked(CPU)[3] == findings.NOISE
    slower = counted + [run("6_async_celery", 22.0, 0.9, pss=40.0)]  # 8 % slower than 24.0: within 10 %
    assert findings.ranked(slower)[1].strategy == "6_async_celery", "as fast, in less memory"


def test_a_row_whose_health_went_unanswered_is_not_first_however_fast():
    fast_but_down = CPU + [run("2_async --processes", 25.0, 0.95, down=12.0)]
    assert findings.ranked(fast_but_down)[1].strategy == "4_async_processexecutor"


def test_a_pool_sized_for_the_users_stands_for_its_strategy():
    sleep = [
        run("3_async_threadexecutor", 19.0, 0.08, task="sleep"),
        run("3_async_threadexecutor --workers 25", 230.0, 0.92, task="sleep"),
        run("4_async_processexecutor --workers 25", 231.0, 0.93, task="sleep"),
        run("2_async", 9.0, 0.04, down=90.0, task="sleep"),
    ]
    best = findings.best_per_strategy(sleep)
    assert [r.server for r in best] == [
        "4_async_processexecutor --workers 25",
        "3_async_threadexecutor --workers 25",
        "2_async",
    ]
    assert findings.trap(sleep) == {"3_async_threadexecutor": 19.0 / 230.0}, "only the pool that ran both ways"
    twin = sleep + [
        run(
            "3_async_threadexecutor --workers 25 (free-threaded)",
            231.0,
            0.92,
            "3_async_threadexecutor",
            task="sleep",
            free_threaded=True,
        )
    ]
    assert findings.unsized(twin[-1]) == "3_async_threadexecutor (free-threaded)", "the twin keeps its build"
    assert [r.server for r in findings.best_per_strategy(twin)][:3] == [
        "4_async_processexecutor --workers 25",
        "3_async_threadexecutor --workers 25 (free-threaded)",
        "3_async_threadexecutor --workers 25",
    ], "the twin does not take the place of its strategy"
    assert findings.trap(twin) == {"3_async_threadexecutor": 19.0 / 230.0}
    assert (
        "sized for the users (the trap of a pool of CPUs places for work that waits): 3_async_threadexecutor "
        "0.08×." in " ".join(findings.findings(sleep).split())
    )
    assert findings.trap(CPU) == {}


def test_the_short_answer_names_what_to_use_and_what_to_avoid_with_the_figures_behind_them():
    kinds = SuiteResults(environment=ENV, runs=CPU)
    cluster = cluster_of(
        *[
            {"engine": engine, "fault": "the web host killed, restarted 2 s later", "accepted": 160, "lost": lost}
            for engine, lost in (("6_async_celery", 0), ("5_async_dask", 12))
        ]
    )
    table = answer.answer(kinds, cluster)
    row = table.split("* - Pure-Python CPU")[1].split("* -")[0]
    assert "**4_async_processexecutor**: 1.00× the process pool" in row and "free-threaded" not in row, (
        "the free-threaded twin is another build of a strategy, not one to choose here"
    )
    assert "(as fast within 5 %, in more memory: 7_async_interpreterpool)" in row
    assert "1_sync: /health unanswered 60 % of the run" in row
    assert "0 of 160 accepted jobs lost" in table
    assert "C code that releases the GIL" not in table, "no row without its kind's results"
    assert "--task mymodule:myfunction" in table


def test_the_narrow_table_has_at_most_seven_columns_within_120_characters():
    table = findings.narrow_table(CPU + [run("8_fastapi --endpoint process --workers 25", 24.0, 0.96)])
    lines = table.splitlines()
    assert max(map(len, lines)) <= 120 and len(lines[0].split()) <= 7


def test_a_row_that_cannot_do_the_work_is_not_recommended_for_it():
    sleep = [
        run("2_async --cooperative", 236.0, 0.95, task="sleep", pss=20.0),
        run("3_async_threadexecutor --workers 25", 235.0, 0.94, "3_async_threadexecutor", task="sleep", pss=22.0),
        run("4_async_processexecutor --workers 25", 234.0, 0.94, "4_async_processexecutor", task="sleep", pss=480.0),
    ]
    table = answer.answer(SuiteResults(environment=ENV, runs=sleep))
    row = table.split("* - A blocking call")[1].split("* -")[0]
    assert "**3_async_threadexecutor --workers 25**" in row and "--cooperative" not in row, (
        "the cooperative row awaits asyncio.sleep: it cannot make a blocking call"
    )


def test_a_table_without_a_process_pool_or_without_a_row_says_so_without_failing():
    alone = [
        run("3_async_threadexecutor", 12.0, 0.48),
        replace(run("5_async_dask", 0, 0), measured=False, error="did not come up"),
    ]
    text = findings.findings(alone)
    assert "First: **3_async_threadexecutor**" in text and "process pool" not in text
    assert "Not measured: 5_async_dask (did not come up)" in text
    assert "12.00 tasks/s" in answer.answer(SuiteResults(environment=ENV, runs=alone))
    assert findings.findings([replace(run("1_sync", 0, 0), measured=False)]).startswith("- Not measured")


def test_the_restart_row_compares_what_each_engine_lost_when_its_web_host_was_killed():
    def killed(engine, lost):
        return {"engine": engine, "fault": "the web host killed, restarted 2 s later", "accepted": 160, "lost": lost}

    row = answer.restart_row(cluster_of(killed("6_async_celery", 0), killed("5_async_dask", 12)))
    assert "**6_async_celery**" in row[1] and "0 of 160" in row[1] and "5_async_dask: 12 of 160 lost" in row[3]
    worse = answer.restart_row(cluster_of(killed("6_async_celery", 20), killed("5_async_dask", 12)))
    assert worse[1] == "–" and "neither kept its jobs better" in worse[3]
    assert (
        answer.restart_row(
            cluster_of(
                killed("6_async_celery", 0),
                {"engine": "5_async_dask", "fault": "the web host killed", "error": "x"},
            )
        )
        is None
    )
