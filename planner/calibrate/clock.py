"""Which clock a calibration times with: wall time, or the CPU time of the one compute thread.

Why a CPU clock: on a CPU VM shared with other jobs, wall time of a forward is inflated by time slicing by a
factor that drifts over minutes (1x to 5x was seen on the 2-core development VM), so no fit can predict it.
With one torch thread every op runs on the calling thread, and that thread's CPU time is what the forward
costs the machine when nobody else runs: the wall time of an idle machine of this class. `--clock cpu`
therefore describes the machine class, not the neighbours; it needs `--threads 1` (other threads' work would
not be counted) and a CPU device (GPU work runs asynchronously, off the CPU clock)."""

from __future__ import annotations

import time
from typing import Callable

CLOCKS = ("wall", "cpu")


def stopwatch(kind: str, device: str = "cpu") -> Callable[[], float]:
    """`stop = stopwatch(kind, dev); ...; seconds = stop()` (wall time synchronises CUDA at both ends)."""
    if kind == "cpu":
        t0 = time.thread_time()
        return lambda: time.thread_time() - t0
    from planner.engine.forward import timed

    return timed(device)
