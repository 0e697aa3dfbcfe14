"""Whether a command's options ask for a row on the free-threaded build, so that make builds that Python (minutes,
once a machine) only for a command that runs such a row:

    .venv/bin/python -m harness.needs free-threaded --servers 1,4 --duration 20     (exit status 0: yes, 1: no)

Only --servers is read (the other options are the command's own business); without it every row runs, the
free-threaded twins too. Options it cannot read are the command's to refuse: the answer is then "no"."""

import argparse
import sys

from harness.cli import server_list
from harness.servers import SERVERS


def servers_asked(argv):
    """The servers `argv`'s --servers names (every one without it); None if its value is not a server list."""
    for index, option in enumerate(argv):
        if option.startswith("--servers="):
            text = option.partition("=")[2]
        elif option == "--servers" and index + 1 < len(argv):
            text = argv[index + 1]
        else:
            continue
        try:
            return server_list(text)
        except argparse.ArgumentTypeError:  # the command says so itself, in its own words
            return None
    return list(SERVERS)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "free-threaded":
        print("usage: python -m harness.needs free-threaded [the command's options]", file=sys.stderr)
        return 2
    asked = servers_asked(argv[1:])
    return 0 if asked and any(server.free_threaded for server in asked) else 1


if __name__ == "__main__":
    sys.exit(main())
