"""Progress on stderr: what is being measured now, how far along, and an estimate of the time left.

Plain lines (one per item, rate-limited) rather than a redrawn bar, so logs of CI runs and `2> file` stay
readable; on a terminal the line is redrawn in place."""

from __future__ import annotations

import sys
import time


def fmt_s(s: float) -> str:
    s = max(0.0, float(s))
    if s < 60:
        return f"{s:.0f}s"
    return f"{int(s // 60)}m{int(s % 60):02d}s"


class Progress:
    def __init__(self, total_budget_s: float | None = None, quiet: bool = False, stream=None):
        self.t0 = time.monotonic()
        self.budget = total_budget_s
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self.phase = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def start_phase(self, name: str) -> None:
        self.phase = name
        self.say(f"{name} ...", force=True)

    def item(self, what: str, done: int, total: int, phase_elapsed: float, phase_budget: float | None) -> None:
        """One measured item of the current phase; time left = this phase's estimate + later phases' budget."""
        per = phase_elapsed / max(done, 1)
        left = per * max(total - done, 0)
        if phase_budget is not None:
            left = min(left, max(phase_budget - phase_elapsed, 0.0))
        msg = f"{self.phase}: {what} [{done}/{total}]  phase ~{fmt_s(left)} left"
        if self.budget:
            msg += f", run ~{fmt_s(max(self.budget - self.elapsed(), 0))} left at most"
        self.say(msg)

    def say(self, msg: str, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.5 and not self.tty:
            return
        self._last = now
        line = f"[calibrate {fmt_s(self.elapsed())}] {msg}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:160])
            if force:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self, msg: str) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\n")
        self.say(msg, force=True)
