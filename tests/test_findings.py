"""The findings under the tables and the short answer are said by rules from the results: checked on runs whose
figures are known."""

from dataclasses import replace

import pytest

from harness.columns import health_p99_text
from harness.records.blocks import ClusterLoad, ClusterResults, FaultRun
from harness.records.suite import Environment, Health, Run, SuiteResults, TaskKind
from harness.report import answer, block_list, findings, sections
from harness.report.charts import Line, crowd
from harness.report.comparison import compare, going_on
from harness.report.tables import rounds_merged
from harness.rounds import Interval


def run(server, rate, efficiency, strategy=None, down=0.0, p99=5.0, task="cpu", free_threaded=False, pss=50.0, **more):
    return Run(
        server=server,
        strategy=strategy or server.split(" (")[0].split(" --workers")[0],
        task=task,
        mode="closed",
        concurrency=25,
        measured=True,
        transaction_rate=rate,
        efficiency=efficiency,
        health_ms=Health(p99=p99, unavailable_pct=down),
        peak_pss_mb=pss,
        free_threaded=free_threaded,
        python="3.13.15t" if free_threaded else more.pop("python", "3.11.7"),
        **more,
    )


def rounds_of(runs, factors):
    """The runs measured once a round, each round's tasks/s scaled by the machine's speed then (its drift)
    and by a row's own wobble: {label: [factor per round]}."""
    return [
        replace(
            one, round=index, transaction_rate=one.transaction_rate * speed * factors.get(one.server, [1] * 9)[index]
        )
        for index, speed in enumerate((1.0, 0.8, 1.1))
        for one in runs
    ]


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
    run("7_async_interpreterpool", 23.5, 0.94, pss=60.0, python="3.13.0"),
    run("4_async_processexecutor (beside 7_async_interpreterpool)", 23.0, 0.94, python="3.13.0"),
    run("3_async_threadexecutor", 12.2, 0.49, p99=500.0),
    run("4_async_processexecutor (free-threaded)", 14.0, 0.97, free_threaded=True),
    run("3_async_threadexecutor (free-threaded)", 13.8, 0.97, free_threaded=True),
]
# Three rounds of it, the machine's speed drifting by tens of percent, each row wobbling by a few.
CPU_ROUNDS = rounds_of(CPU, {"7_async_interpreterpool": [1.0, 1.04, 0.99], "3_async_threadexecutor": [1, 0.97, 1.02]})


def test_every_ratio_is_against_the_process_pool_on_the_rows_own_python_with_its_interval():
    found = compare(CPU_ROUNDS, "3.11.7")
    ratios = {row.label: row.ratio for row in found.rows}
    assert ratios["7_async_interpreterpool"].estimate == pytest.approx(23.5 / 23.0), "its median round's ratio"
    assert ratios["7_async_interpreterpool"].rounds == 3 and ratios["7_async_interpreterpool"].low < 1.02
    assert ratios["3_async_threadexecutor (free-threaded)"].estimate == pytest.approx(13.8 / 14.0), (
        "the free-threaded twin against the pool on its own build, not the one with the GIL"
    )
    assert ratios["1_sync"].high - ratios["1_sync"].low < 1e-9, "the drift cancels within each round"


def test_the_first_is_the_simplest_of_those_equal_and_a_row_down_is_never_first():
    found = compare(CPU_ROUNDS, "3.11.7")
    assert found.chosen.label == "4_async_processexecutor", "a standard-library pool before another interpreter"
    assert "equal within 5 %" in found.reason and "a standard-library pool" in found.reason
    equal = {row.label for row in found.equal}
    assert "7_async_interpreterpool" in equal and "3_async_threadexecutor (free-threaded)" in equal
    assert "1_sync" not in {row.label for row in found.equal + found.slower}, "60 % unavailable: not a candidate"
    assert "3_async_threadexecutor" in {row.label for row in found.slower}
    text = " ".join(findings.findings(CPU_ROUNDS, "3.11.7").split())
    assert "First: **4_async_processexecutor**" in text and "3 rounds" in text
    assert "7_async_interpreterpool (Python 3.13.0) ×1.0" in text
    assert "1_sync (60 %)" in text


def test_a_row_clearly_slower_stops_after_two_rounds_and_the_contenders_go_on():
    two = [one for one in CPU_ROUNDS if one.round < 2]
    going = going_on(two, "3.11.7", cap=5)
    assert "3_async_threadexecutor" not in going, "half the pool's tasks/s: settled after two rounds"
    assert "4_async_processexecutor (beside 7_async_interpreterpool)" in going, "its pool goes on with it"
    assert going_on(two[:7], "3.11.7", cap=5) == {one.server for one in CPU}, "one round: every strategy goes on"
    sleep = [
        run("3_async_threadexecutor", 19.0, 0.08, task="sleep"),
        run("3_async_threadexecutor --workers 25", 230.0, 0.92, task="sleep"),
        run("4_async_processexecutor --workers 25", 231.0, 0.93, task="sleep"),
    ]
    assert going_on(sleep, "3.11.7", cap=5) == {
        "3_async_threadexecutor --workers 25",
        "4_async_processexecutor --workers 25",
    }, "a pool at its default size (the trap) is not in the choice: one round shows it"


def test_a_pool_missing_from_a_round_leaves_its_rows_out_of_that_round_without_failing():
    gaps = [
        one
        for one in CPU_ROUNDS
        if not (one.round == 1 and one.server == "4_async_processexecutor")
        and not (one.round == 0 and one.server == "4_async_processexecutor (free-threaded)")
    ]
    found = compare(gaps, "3.11.7")
    ratios = {row.label: row.ratio for row in found.rows}
    assert ratios["1_sync"].rounds == 2 and ratios["3_async_threadexecutor (free-threaded)"].rounds == 2
    assert found.chosen.label == "4_async_processexecutor"
    assert going_on([one for one in gaps if one.round < 2], "3.11.7", cap=5)


def test_without_a_process_pool_rows_compare_directly_on_the_suites_python_only():
    no_pool = [one for one in CPU_ROUNDS if one.strategy != "4_async_processexecutor"]
    found = compare(no_pool, "3.11.7")
    assert found.chosen.label == "3_async_threadexecutor", "the free-threaded and 3.13 rows are not compared with it"
    assert all(row.ratio is None for row in found.rows), "no pool: no ratio to print"


def test_a_pool_sized_for_the_users_stands_for_its_strategy_and_the_trap_has_its_interval():
    sleep = [
        run("3_async_threadexecutor", 19.0, 0.08, task="sleep"),
        run("3_async_threadexecutor --workers 25", 230.0, 0.92, task="sleep"),
        run("4_async_processexecutor --workers 25", 231.0, 0.93, task="sleep"),
        run("2_async", 9.0, 0.04, down=90.0, task="sleep"),
    ]
    labels = [row.label for row in compare(sleep, "3.11.7").rows]
    assert labels == ["4_async_processexecutor --workers 25", "3_async_threadexecutor --workers 25", "2_async"]
    sleep_rounds = rounds_of(sleep, {"3_async_threadexecutor": [1, 1.1, 0.9]})
    trap = findings.trap(sleep_rounds)
    assert list(trap) == ["3_async_threadexecutor"], "only the pool that ran both ways"
    assert trap["3_async_threadexecutor"].estimate == pytest.approx(19 / 230)
    assert trap["3_async_threadexecutor"].rounds == 3
    assert "3_async_threadexecutor ×0.08 (0.0" in " ".join(findings.findings(sleep_rounds, "3.11.7").split())


DB = [  # the db kind: threads and the loop at SQLAlchemy's default pool (15 queries at once), and with 25
    run("2_async --cooperative", 141.0, 0.58, task="db"),
    run("2_async --cooperative --db-pool 25", 235.0, 0.96, "2_async --cooperative", task="db"),
    run("3_async_threadexecutor", 19.0, 0.08, task="db"),
    run("3_async_threadexecutor --workers 25", 142.0, 0.58, "3_async_threadexecutor", task="db"),
    run("3_async_threadexecutor --workers 25 --db-pool 25", 236.0, 0.96, "3_async_threadexecutor", task="db"),
    run("4_async_processexecutor --workers 25", 234.0, 0.96, "4_async_processexecutor", task="db", pss=900.0),
]


def test_the_default_connection_pool_is_a_trap_of_its_own_and_a_row_stands_at_its_best_setting():
    db_rounds = rounds_of(DB, {"3_async_threadexecutor --workers 25": [1, 1.05, 0.95]})
    connections = findings.trap(db_rounds, findings.CONNECTIONS)
    assert set(connections) == {"2_async --cooperative", "3_async_threadexecutor --workers 25"}
    assert connections["3_async_threadexecutor --workers 25"].estimate == pytest.approx(142 / 236, rel=0.06)
    threads = findings.trap(db_rounds)
    assert list(threads) == ["3_async_threadexecutor"], "the thread pool's own trap, at the default connections"
    said = " ".join(findings.findings(db_rounds, "3.11.7").split())
    assert "Database connections at SQLAlchemy's default pool" in said
    assert "3_async_threadexecutor --workers 25 ×0.6" in said
    labels = [row.label for row in compare(db_rounds, "3.11.7").rows]
    assert "3_async_threadexecutor --workers 25 --db-pool 25" in labels, "each strategy at its best setting"
    assert "3_async_threadexecutor --workers 25" not in labels and "2_async --cooperative" not in labels


def test_a_strategy_stands_at_the_size_its_rounds_went_on_with_not_at_a_size_measured_once():
    # The rounds go on with the size the first round found best; a size measured in that round alone must not
    # stand for its strategy because its one figure beats the median of the others' rounds.
    db_rounds = [
        replace(one, transaction_rate=238.0) if one.server == "3_async_threadexecutor --workers 25" else one
        for one in rounds_of(DB, {})
        if one.round == 0 or one.server != "3_async_threadexecutor --workers 25"
    ]
    rows = compare(db_rounds, "3.11.7").rows
    labels = [row.label for row in rows]
    assert "3_async_threadexecutor --workers 25 --db-pool 25" in labels
    assert "3_async_threadexecutor --workers 25" not in labels
    assert "3_async_threadexecutor --workers 25" not in going_on(db_rounds, "3.11.7", cap=4)


def test_a_default_is_called_slower_only_where_its_whole_interval_is_and_one_faster_at_it_is_said_so():
    said = findings.default_line(
        {
            "slow": Interval(0.50, 0.40, 0.60, 3),
            "noisy": Interval(0.80, 0.55, 1.10, 3),  # its interval reaches its sized row: not told apart
            "faster": Interval(1.30, 1.20, 1.40, 3),
            "level": Interval(1.00, 0.98, 1.02, 3),
        },
        "At the default",
        brief=False,
    )
    assert said == (
        "- At the default: slow ×0.50 (0.40–0.60, 3 rounds); faster at it: faster; not told apart at it: level, noisy."
    )
    assert findings.default_line({"noisy": Interval(0.80, 0.55, 1.10, 3)}, "At the default", brief=False) is None


def test_the_blocking_call_row_reads_the_database_query_where_it_was_measured():
    sleep = [
        run("3_async_threadexecutor --workers 25", 235.0, 0.94, "3_async_threadexecutor", task="sleep"),
        run("4_async_processexecutor --workers 25", 234.0, 0.94, "4_async_processexecutor", task="sleep"),
    ]
    env = replace(ENV, tasks={**ENV.tasks, "db": TaskKind(n=100, t1_s=0.1, t1_s_end=0.1, waits=True)})
    row = answer.answer(SuiteResults(environment=env, runs=sleep + DB)).split("* - A blocking call")[1]
    row = row.split("* -")[0]
    assert "task ``db``" in row and "**3_async_threadexecutor --workers 25 --db-pool 25**" in row, (
        "the pool setting that decides is in the row"
    )
    assert "--cooperative" not in " ".join(row.split("\n     - ")[1:3]), "the loop awaits: no blocking call"
    without = answer.answer(SuiteResults(environment=ENV, runs=sleep)).split("* - A blocking call")[1]
    assert "task ``sleep``" in without.split("* -")[0], "no db results: time.sleep stands for the call"


def test_the_short_answer_names_what_to_use_and_what_to_avoid_with_the_figures_behind_them():
    kinds = SuiteResults(environment=ENV, runs=CPU_ROUNDS)
    cluster = cluster_of(
        *[
            {"engine": engine, "fault": "the web host killed, restarted 2 s later", "accepted": 160, "lost": lost}
            for engine, lost in (("6_async_celery", 0), ("5_async_dask", 12))
        ]
    )
    table = answer.answer(kinds, cluster)
    row = table.split("* - Pure-Python CPU")[1].split("* -")[0]
    assert "**4_async_processexecutor**: the process pool itself (the yardstick)" in row
    assert "the simplest (a standard-library pool added)" in row
    assert "also equal: 7_async_interpreterpool (Python 3.13.0)" in row
    runner = row.split("\n     - ")[2]
    assert "on its Python (" in runner and "the pool here 24.0)" in runner, "another Python's own speed said"
    assert "And threads on a free-threaded build, 3_async_threadexecutor (Python 3.13.15t): ×0.99" in row, (
        "threads with the GIL clearly slower, without it equal: where the build makes the difference"
    )
    assert "1_sync: /health unanswered 60 % of the run" in row
    assert "0 of 160 accepted jobs lost" in table
    assert "C code that releases the GIL" not in table, "no row without its kind's results"
    assert "--task mymodule:myfunction" in table


def test_the_narrow_table_has_at_most_seven_columns_within_120_characters():
    wide = CPU_ROUNDS + [run("8_fastapi --endpoint process --workers 25", 24.0, 0.96)]
    lines = findings.narrow_table(compare(wide, "3.11.7"), "3.11.7").splitlines()
    assert max(map(len, lines)) <= 120 and len(lines[0].split()) <= 7
    assert any("7_interpreterpool (3.13.0)" in line for line in lines), "every row names its interpreter"


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
    text = findings.findings(alone, "3.11.7")
    assert "First: **3_async_threadexecutor**" in text and "process pool" not in text
    assert "Not measured: 5_async_dask (did not come up)" in text
    assert "12.00 tasks/s" in answer.answer(SuiteResults(environment=ENV, runs=alone))
    assert findings.findings([replace(run("1_sync", 0, 0), measured=False)], "3.11.7").startswith("- Not measured")


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


def test_a_row_that_failed_its_first_round_is_measured_again():
    first = [
        replace(one, measured=False, transaction_rate=0) if one.server == "3_async_threadexecutor" else one
        for one in CPU
    ]
    assert "3_async_threadexecutor" in going_on(first, "3.11.7", cap=5), "its two rounds are yet to come"


def test_a_leader_the_answer_cannot_name_does_not_settle_the_rows_it_chooses_among():
    """Sleep: the cooperative row (asyncio.sleep, no blocking call) far ahead settles every pool as slower; the
    answer, which leaves it out, still needs the pools told apart from each other."""
    sleep = [
        run("2_async --cooperative", 600.0, 0.9, strategy="2_async", task="sleep"),
        run("3_async_threadexecutor --workers 25", 250.0, 0.9, task="sleep"),
        run("4_async_processexecutor --workers 25", 255.0, 0.9, task="sleep"),
    ]
    two = [replace(one, round=0) for one in sleep] + [
        replace(one, round=1, transaction_rate=one.transaction_rate * (1.05 if "3_" in one.server else 1.0))
        for one in sleep
    ]
    assert going_on(two, "3.11.7", cap=5) == set(), "against the cooperative row every pool is settled"
    assert going_on(two, "3.11.7", cap=5, unfit=answer.UNFIT["sleep"]) == {
        "3_async_threadexecutor --workers 25",
        "4_async_processexecutor --workers 25",
    }


def test_one_rounds_outage_is_not_outvoted_by_quiet_rounds():
    """Health merged over rounds pools the probes: 20 of 100 failed in one round of three is 6.7 % unavailable and
    a p99 among the failures, not the median round's 0 %."""
    quiet = Health(p50=2.0, p99=5.0, max=8.0, count=100, failed=0, unavailable_pct=0.0, timeout_s=1.0)
    outage = replace(quiet, p99=None, p99_above=40.0, max=None, failed=20, unavailable_pct=20.0)
    rounds = [
        replace(run("3_async_threadexecutor", 12.0, 0.5, round=index), health_ms=health)
        for index, health in enumerate((quiet, outage, quiet))
    ]
    merged = rounds_merged(rounds)[0].health_ms
    assert (merged.count, merged.failed, merged.unavailable_pct) == (300, 20, 6.7)
    assert merged.p99 is None and merged.max is None and health_p99_text(merged) == "≥ 1000"
    assert merged.p50 == 2.0, "the median of the rounds where the failures do not hold its rank"


def test_of_rows_equally_fast_and_simple_one_that_kept_health_quick_is_named_before_less_memory():
    """Hashing: FastAPI's def endpoint (40 threads) as fast as the process pool, in 30 MB less, its /health p99
    some 400 ms; the answer names the pool, whose p99 stayed under RESPONSIVE_MS."""
    hashing = [
        run("4_async_processexecutor", 24.0, 0.96, task="hash", pss=73.0, p99=10.0),
        run("8_fastapi", 23.5, 0.94, task="hash", pss=42.0, p99=440.0),
    ]
    found = compare(rounds_of(hashing, {"8_fastapi": [1.0, 0.99, 1.01]}), "3.11.7")
    assert {row.label for row in found.equal} == {"8_fastapi"}, "equal within 5 %, in clearly less memory"
    assert found.chosen.label == "4_async_processexecutor" and "kept /health quick" in found.reason
    slow_both = [replace(one, health_ms=Health(p99=300.0)) for one in rounds_of(hashing, {})]
    assert compare(slow_both, "3.11.7").chosen.label == "8_fastapi", "none quick: memory decides as before"


def test_a_block_shown_from_part_of_another_shows_its_task_and_rows_and_names_who_measured_them():
    """The default run and the FastAPI page are the kinds' cpu table (block_list.Part): no run of their own, the
    task's runs and T1 only, the FastAPI page only FastAPI's rows and Tornado's inline and pool rows on the suite's
    Python, and their stamp names the kinds' command and file."""
    kinds = SuiteResults(
        environment=ENV,
        runs=[
            run("2_async", 10.0, 0.5),
            run("2_async --cooperative", 9.0, 0.45),
            run("4_async_processexecutor", 20.0, 0.95),
            run("4_async_processexecutor (free-threaded)", 12.0, 0.9, free_threaded=True),
            run("8_fastapi --endpoint process", 20.0, 0.95),
            run("6_async_celery", 18.0, 0.9),
            run("3_async_threadexecutor --workers 25", 240.0, 0.95, task="sleep"),
        ],
    )
    results, fastapi = block_list.NAMED["results"], block_list.NAMED["fastapi"]
    assert not results.commands and not fastapi.commands
    default_run = results.part.of(kinds)
    assert [one.server for one in default_run.runs] == [one.server for one in kinds.runs if one.task == "cpu"]
    assert set(default_run.environment.tasks) == {"cpu"}
    assert [one.server for one in fastapi.part.of(kinds).runs] == [
        "2_async",
        "4_async_processexecutor",
        "8_fastapi --endpoint process",
    ], "no cooperative row, no free-threaded twin, no Celery, no sleep"
    said = sections.stamp(ENV, fastapi)
    assert block_list.NAMED["kinds"].shown_command() in said and "docs/results/kinds/results.json" in said


def test_a_run_of_the_readers_own_function_ends_with_the_same_answer_for_it():
    """run_all.py --task MODULE:FUNCTION: its tables answered by the README's rules, a row per table, in the
    README's words and as plain lines for the terminal."""
    own = [replace(one, task="mymodule:resize") for one in CPU_ROUNDS]
    env = replace(ENV, tasks={"mymodule:resize": ENV.tasks["cpu"]})
    rows = answer.run_answer(SuiteResults(environment=env, runs=own))
    assert [row[0] for row in rows] == ["``mymodule:resize``, 25 users"]
    assert rows[0][1].startswith("**4_async_processexecutor**: the process pool itself")
    assert "1_sync: /health unanswered 60 % of the run" in rows[0][3]
    assert answer.list_table(rows).startswith(".. list-table::") and "mymodule:resize" in answer.list_table(rows)
    text = answer.as_text(rows)
    assert "Use:       4_async_processexecutor: the process pool itself" in text and "**" not in text
    assert answer.run_answer(SuiteResults(environment=env, runs=[])) == [], "nothing measured: nothing to answer"


def test_a_run_of_the_readers_own_function_answers_a_frameworks_users_too_and_names_its_rows_only_there():
    flask = [run("9_flask --server granian", 23.0, 0.92), run("9_flask", 24.5, 0.98, down=50.0, p99=5000.0)]
    own = [replace(one, task="mymodule:resize") for one in rounds_of(CPU + flask, {})]
    env = replace(ENV, tasks={"mymodule:resize": ENV.tasks["cpu"]})
    general, framework = answer.run_answer(SuiteResults(environment=env, runs=own))
    assert general[1].startswith("**4_async_processexecutor**") and "9_flask" not in general[1] + general[2]
    assert framework[0] == "Your app is Flask (WSGI)"
    assert "mymodule:resize" in framework[1] and "**9_flask --server granian (Granian's WSGI workers)**" in framework[1]
    assert "9_flask (gunicorn's sync workers, the default): /health unanswered up to 50 %" in framework[3]


def test_a_fastapi_user_finds_the_endpoint_and_setting_to_use_and_the_default_that_hurts():
    """The answer's FastAPI row: among FastAPI's own rows, by the same rules against the process pool (not theirs
    to pick), each named as a FastAPI user writes it; to avoid, the def endpoint that left /health unanswered."""
    fastapi = [
        run("8_fastapi", 12.0, 0.48, down=60.0, p99=5000.0),
        run("8_fastapi --endpoint process", 23.8, 0.95),
        run("8_fastapi --endpoint async", 12.1, 0.48, down=85.0, p99=5000.0),
    ]
    kinds = SuiteResults(environment=ENV, runs=rounds_of(CPU + fastapi, {}))
    row = answer.answer(kinds).split("* - Your app is FastAPI")[1].split("* -")[0]
    assert "cpu ×0.99" in row and "**8_fastapi --endpoint process (an async def endpoint awaiting a" in row
    assert "4_async_processexecutor" not in row, "the pool is the yardstick, not a FastAPI user's choice"
    assert "8_fastapi (a def endpoint, the default): /health unanswered up to 60 % of the run (cpu)" in row
    assert "8_fastapi --endpoint async (an async def endpoint calling the work): /health unanswered up to 85 %" in row


def test_the_rounds_go_on_where_a_frameworks_own_choice_is_not_settled():
    """The FastAPI row of the answer chooses among FastAPI's rows alone: two of them far behind the process pool
    (settled for the table) but not yet told apart from each other go on, with the pool they are measured against;
    and in a table without a pool, the row the others are measured against goes on with them."""
    cpu = [
        run("4_async_processexecutor", 24.0, 0.96),
        run("8_fastapi --endpoint process", 12.0, 0.5),
        run("8_fastapi --processes", 11.6, 0.5),
    ]
    wobble = {"8_fastapi --processes": [1.0, 1.1, 0.93]}
    three = rounds_of(cpu, wobble)
    assert going_on(three, "3.11.7", cap=5) == set(), "both settled far below the pool"
    assert going_on(three, "3.11.7", cap=5, stacks=["fastapi"]) == {
        "8_fastapi --endpoint process",
        "8_fastapi --processes",
        "4_async_processexecutor",
    }
    no_pool = [
        run("1_sync", 6.0, 0.25),
        run("3_async_threadexecutor", 12.0, 0.5),
        run("7_async_interpreterpool", 11.5, 0.5),
    ]
    noisy = rounds_of(no_pool, {"7_async_interpreterpool": [1.0, 1.2, 0.9]})
    assert going_on(noisy, "3.11.7", cap=5) == {"1_sync", "3_async_threadexecutor", "7_async_interpreterpool"}, (
        "1_sync, settled far behind, is what the others are measured against: it runs with them"
    )


def test_the_readme_shows_the_fastest_rows_and_names_the_rest():
    names = [f"{n}_row" for n in range(findings.README_ROWS + 3)]
    runs = [run("4_async_processexecutor", 30.0, 1.0)] + [
        run(name, 29.0 - i, 0.9, "2_async") for i, name in enumerate(names)
    ]
    section = findings.narrow_section(SuiteResults(environment=ENV, runs=runs))
    table = [line for line in section.splitlines() if line.startswith(("4_", *names)) and line.split()[-1].isdigit()]
    assert len(table) == findings.README_ROWS, "the fastest rows, the yardstick among them"
    slower = names[findings.README_ROWS - 1 :]
    assert "- Not shown here: " + ", ".join(slower) + "." in " ".join(section.split())


def test_the_readme_shows_the_tables_the_answer_reads_the_database_query_rather_than_sleep():
    sleep = [
        run("3_async_threadexecutor --workers 25", 235.0, 0.94, "3_async_threadexecutor", task="sleep"),
        run("4_async_processexecutor --workers 25", 234.0, 0.94, "4_async_processexecutor", task="sleep"),
    ]
    env = replace(ENV, tasks={**ENV.tasks, "db": TaskKind(n=100, t1_s=0.1, t1_s_end=0.1, waits=True)})
    both = SuiteResults(environment=env, runs=rounds_of(CPU + sleep + DB, {}))
    assert answer.kinds_read(both) == ["cpu", "db"]
    section = findings.narrow_section(both, answer.kinds_read(both))
    assert "**Task db, 25 users**" in section and "**Task cpu, 25 users**" in section
    assert "Task sleep" not in section
    assert answer.kinds_read(SuiteResults(environment=ENV, runs=CPU + sleep)) == ["cpu", "sleep"]


def test_a_flask_user_finds_the_worker_model_to_use_and_the_one_that_hurts():
    """The answer's Flask row: among Flask's rows on gunicorn and Granian, by the same rules, named as a gunicorn
    user sets it; a gevent worker that left /health unanswered while it computed, to avoid. The rows per kind of
    work name none of them, though the sync workers are level with the process pool."""
    flask = [
        run("9_flask", 23.6, 0.94),
        run("9_flask --worker-class gthread", 12.1, 0.48, p99=400.0),
        run("9_flask --worker-class gevent", 23.0, 0.92, down=40.0, p99=5000.0),
        run("9_flask --server granian", 12.0, 0.48),
        run("9_flask --server granian (free-threaded)", 13.9, 0.97, free_threaded=True),
    ]
    kinds = SuiteResults(environment=ENV, runs=rounds_of(CPU + flask, {}))
    table = answer.answer(kinds)
    row = table.split("* - Your app is Flask (WSGI)")[1].split("* -")[0]
    assert "cpu ×0.98" in row and "**9_flask (gunicorn's sync workers, the default)**" in row
    assert "9_flask --worker-class gevent (gunicorn's gevent workers): /health unanswered up to 40 %" in row
    assert "free-threaded" not in row, "a framework's row chooses among its rows on the suite's Python"
    general = table.split("* - Your app is Flask (WSGI)")[0]
    assert "**4_async_processexecutor**" in general and "9_flask" not in general, (
        "the rows per kind of work choose among the suite's own servers: another framework is not a strategy"
    )


def test_the_capacity_chart_enlarges_the_band_where_lines_overlap():
    """Lines that lie whole within a narrow band of rates are drawn again apart (charts.crowd): three at 10 to 12
    requests/s beside one that runs to 40; none enlarged where the lines spread."""

    def line(*rates):
        return Line("x", "C0", [(rate, 100.0) for rate in rates])

    lines = [line(10, 11), line(10.5, 11.5), line(10.2, 12), line(10, 20, 40)]
    low, high = crowd(lines)
    assert low < 10 and 12 < high < 14
    assert crowd([line(10, 11), line(20, 25), line(30, 40), line(10, 40)]) is None
