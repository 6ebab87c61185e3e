"""How many requests a teacher keeps in flight: lowered when the server does not keep up."""

import contextlib
import threading
from typing import Iterator, Optional


class ConcurrencyLimit:
    """At most `limit` requests at once; `lower` halves the limit (down to 1) after a timeout.

    A request that waits in the server's queue counts against its timeout, so a server with fewer
    slots than requests in flight times out requests that were never worked on. Fewer requests in
    flight fixes that; one timeout per level lowers the limit once, however many requests timed out.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.in_flight = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[int]:
        """Hold one of the slots while a request is out; yields the limit it was sent under."""
        with self._changed:
            while self.in_flight >= self.limit:
                self._changed.wait()
            self.in_flight += 1
            level = self.limit
        try:
            yield level
        finally:
            with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def lower(self, level: int) -> Optional[int]:
        """Halve the limit after a timeout of a request sent under `level`; the new limit, or None if unchanged."""
        with self._changed:
            if self.limit != level or self.limit == 1:
                return None
            self.limit = max(1, self.limit // 2)
            return self.limit
