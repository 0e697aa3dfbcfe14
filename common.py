"""Transitional: the names of the old common.py, re-exported from their new homes while the harness moves over.
Removed once nothing imports it."""
from processes import *  # noqa: F401,F403
from processes import STOP_SIGNALS, HARD_EXIT_AFTER_S  # noqa: F401
from serving.cli import OneLineParser, parse_args  # noqa: F401
from serving.contract import *  # noqa: F401,F403
from serving.lifecycle import announce, check_port, exit_now, fail, run  # noqa: F401
from serving.pools import interpreter_pool, start_workers  # noqa: F401
from serving.sync_http import SyncHandler, serve_sync  # noqa: F401
