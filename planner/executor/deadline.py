"""The wall-clock budget of one problem, shared by every backend.

Why one object: the deadline covers everything the user waits for (prompt encoding, prefill, decoding,
HTTP round trips), so it starts once per problem and every stage asks it how much time is left."""

from __future__ import annotations

import time


class Deadline:
    def __init__(self, seconds: float | None, clock=time.perf_counter):
        if seconds is not None and seconds <= 0:
            raise ValueError("deadline must be positive")
        self.seconds, self.clock = seconds, clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float | None:
        """Seconds left (may be negative once passed); None when there is no deadline."""
        return None if self.seconds is None else self.seconds - self.elapsed()

    def expired(self) -> bool:
        r = self.remaining()
        return r is not None and r <= 0
