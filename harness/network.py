"""Where the harness sends, and how: loopback or the hosts' addresses, one request at a time (the servers speak
JSON)."""

import http.client
import ipaddress
import json

HOST = "127.0.0.1"
# The hosts of harness/hosts/namespaces.py: network namespaces made by the suite, with addresses of the benchmarking
# range 198.18.0.0/15 (RFC 2544) routed nowhere else. The load drivers load these or loopback, nothing else.
HOSTS_NETWORK = ipaddress.ip_network("198.18.0.0/24")


def request(port, path="/", method="GET", timeout=30, host=HOST):
    """One HTTP request on a new connection: (status, headers (case-insensitive: uvicorn sends them in lower case),
    body parsed as JSON or None if empty). `host`: another address than loopback (harness/hosts/namespaces.py's)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        data = response.read()
        return response.status, response.headers, json.loads(data) if data else None
    finally:
        connection.close()
