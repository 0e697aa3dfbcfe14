"""Bad input, tried widely: each generated query string gets exactly the answer that an independent reading of
the interface's rules predicts (200 with the right count for the right n, or 400 with a JSON error), no
traceback, and the server keeps serving."""

from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tasks
from harness.instruments.verify import prime_count
from harness.network import request
from harness.server_process import ServerProcess
from harness.servers import by_name
from processes import free_port

CPU = tasks.KINDS["cpu"]


@pytest.fixture(scope="module", params=["1_sync", "3_async_threadexecutor"])
def server(request):
    process = ServerProcess(by_name(request.param), free_port()).start()
    try:
        assert process.wait_healthy()
        yield process
    finally:
        assert process.stop()


def expected(query):
    """The n a query string asks for, or None where the README's rules say 400: fields split on '&', a field
    without '=' has an empty value, '+' is a space, %XX decoded (as UTF-8); only n, at most once, with a value of
    an optional sign and 1 to 30 ASCII digits, from 1 to MAX_N. No n at all: the default."""
    fields = [piece.partition("=") for piece in query.split("&") if piece]
    names = [unquote(name.replace("+", " "), errors="replace") for name, _, _ in fields]
    values = [unquote(value.replace("+", " "), errors="replace") for _, _, value in fields]
    if any(name != "n" for name in names) or len(values) > 1:
        return None
    if not values:
        return CPU.default_n
    digits = values[0][1:] if values[0][:1] in ("+", "-") else values[0]
    if not (1 <= len(digits) <= 30 and all(c in "0123456789" for c in digits)):
        return None
    n = int(values[0])
    return n if 1 <= n <= CPU.max_n else None


pieces = st.one_of(
    st.sampled_from(
        [
            "n",
            "n=",
            "=",
            "&",
            "n=1",
            "n=-1",
            "n=0",
            "n=1e3",
            "n=0x10",
            "n=%205",
            "n=%EF%BC%95",
            "n=%00",
            "n=%ff",
            "%",
            "%zz",
            "n=1_000",
            "n=9999999999999999999999",
            "m=1",
            "n=5&n=5",
            ";",
            "+",
            "#",
        ]
    ),
    st.integers(-(10**6), 10**5).map(lambda k: f"n={k}"),
    st.text(max_size=20).map(lambda text: quote(text, safe="=&%+")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(pieces, max_size=4).map("".join))
def test_any_query_string(server, query):
    n = expected(query)
    status, headers, body = request(server.port, f"/?{query}")
    assert headers["Content-Type"].startswith("application/json")
    if n is None:
        assert (status, bool(body["error"])) == (400, True), (query, status, body)
    else:
        assert (status, body["n"], body["result"]) == (200, n, prime_count(n)), (query, body)


def test_after_all_that(server):
    assert request(server.port, "/?n=100")[2]["result"] == 25
    assert "Traceback" not in server.output()
