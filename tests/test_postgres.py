"""The suite's own PostgreSQL (harness/postgres.py), for the db task kind: started for real on a free port, a
query that waits in the server answered through psycopg, and nothing left once stopped."""

import os
import time

import psutil
import psycopg
import pytest

from harness.postgres import Postgres, missing
from processes import port_is_free

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"PostgreSQL: {missing()}")


def test_a_cluster_of_its_own_answers_a_query_that_waits_in_the_server_and_leaves_nothing():
    cluster = Postgres(max_connections=20)
    url = cluster.start()
    try:
        server, folder, port = cluster.process.pid, cluster.folder, cluster.port
        with psycopg.connect(url) as connection:
            started = time.monotonic()
            (n,) = connection.execute("SELECT %s::int FROM pg_sleep(%s)", (42, 0.2)).fetchone()
            waited = time.monotonic() - started
            (limit,) = connection.execute("SHOW max_connections").fetchone()
        assert n == 42 and waited >= 0.2, "the query waited in the server, and returned its row"
        assert limit == "20"
        backends = psutil.Process(server).children()
        assert backends, "PostgreSQL's own processes, under its postmaster"
    finally:
        cluster.stop()
    assert not psutil.pid_exists(server) and not any(psutil.pid_exists(p.pid) for p in backends)
    assert not os.path.exists(folder) and port_is_free(port)
    cluster.stop()  # twice: nothing more to do


def test_a_cluster_that_cannot_start_is_one_line_and_leaves_nothing():
    cluster = Postgres(max_connections=-1)  # refused by the server at start-up
    with pytest.raises(RuntimeError, match="PostgreSQL did not start: ") as failed:
        cluster.start()
    assert "\n" not in str(failed.value)
    assert cluster.folder is None and cluster.process is None
