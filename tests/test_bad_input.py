"""Bad input, tried widely: any query string gets 200 with the right count or 400 with a JSON error; nothing
else, no traceback, and the server keeps serving."""
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import common
from harness.servers import ServerProcess, by_name, free_port, request
from harness.verify import prime_count



@pytest.fixture(scope="module", params=["1_sync", "3_async_threadexecutor"])
def server(request):
    process = ServerProcess(by_name(request.param), free_port()).start()
    assert process.wait_healthy()
    yield process
    assert process.stop()


pieces = st.one_of(
    st.sampled_from(["n", "n=", "=", "&", "n=1", "n=-1", "n=0", "n=1e3", "n=0x10", "n=%205", "n=%EF%BC%95", "n=%00",
                     "n=%ff", "%", "%zz", "n=1_000", "n=9999999999999999999999", "m=1", "n=5&n=5", ";", "+", "#"]),
    st.integers(-10**6, 10**4).map(lambda k: f"n={k}"),
    st.text(max_size=20).map(lambda text: quote(text, safe="=&%+")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(pieces, max_size=4).map("".join))
def test_any_query_string(server, query):
    status, headers, body = request(server.port, f"/?{query}")
    assert status in (200, 400), (query, status, body)
    assert headers["Content-Type"].startswith("application/json")
    if status == 200:
        assert body["result"] == prime_count(body["n"])
        assert 1 <= body["n"] <= common.MAX_N
    else:
        assert body["error"]


def test_after_all_that(server):
    assert request(server.port, "/?n=100")[2]["result"] == 25
    assert "Traceback" not in server.output()
