"""The pending-request limit (--max-pending), for every web stack: at most N tasks unfinished at once, and one more
is Unavailable (a 503) at once instead of a place in an unbounded queue. No web framework here."""

import contextlib

from .contract import Unavailable


class PendingLimit:
    """At most `most` tasks unfinished at once (None or 0: no limit). Entered and left on the event loop only,
    so the count needs no lock."""

    def __init__(self, most):
        self.most, self.pending = most, 0

    @contextlib.contextmanager
    def one_more(self):
        """A task's place while it is unfinished; Unavailable if every place is taken."""
        if self.most and self.pending >= self.most:
            raise Unavailable(f"{self.pending} tasks are pending already: try again later")
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1
