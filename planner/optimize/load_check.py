"""The pick under load, confirmed by simulation (issue 20, item 3): the closed forms of planner/model/load.py screen
every configuration, the event-driven simulation (planner/model/queue_sim.py) judges the ones the rule picks.

Why: the closed forms are close on a memory-bound step but optimistic where the step grows with the batch (a CPU
replica: p90 at ~50 % of the simulated), and simulating every (K, N) is too slow for `recommend`. So: pick by the
screened figures; simulate the pick's (K, N) and write the simulated latency and P(meet) into the evaluation; if
it no longer meets the deadline, scale the screened latencies of the cells not simulated by the last simulated
cell's ratio (simulated / screened, per statistic) and pick again. A pick is final once its own cell was
simulated. After MAX_SIMS cells only simulated cells may be picked. The plan's figures are then simulated (with
standard errors); the runners-up it lists are screened figures times that ratio."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


MAX_SIMS = 12
REQUESTS = 4000     # simulated requests per cell (the first 10 % are warm-up)
KEYS = ("mean", "p50", "p90", "p99", "q")


@dataclass
class Checked:
    """What the simulation settled on one evaluation: its cells' statistics and the screened arrays they replaced."""

    cells: dict = field(default_factory=dict)    # (k, n) -> planner.model.queue_sim.SimStats
    screened: dict = field(default_factory=dict)  # key -> (K, N) arrays as the closed forms gave them


def simulate_cell(ev, k: int, n: int, requests: int = REQUESTS, seed: int = 0, rate: float | None = None):
    """SimStats of configuration (K[k], N[n]) of `ev` at its load (or at Poisson `rate` on the same replica)."""
    from planner.model.lengths import LengthDist
    from planner.model.load import kv_branches
    from planner.model.queue_sim import simulate, stats

    p, load = ev.profile, ev.load
    N, K = int(ev.N[n]), int(ev.K[k])
    kv = kv_branches(p, int(ev.K.max()))
    if N > kv:
        return None
    dist = LengthDist(p.lengths, cap=ev.max_tokens)
    if rate is not None or load.concurrency is None:
        lat = simulate(p, N, K, dist, kv, rate=rate or load.arrival_rate, round_robin=load.round_robin,
                       n_requests=requests, seed=seed)
    else:
        lat = simulate(p, N, K, dist, kv, concurrency=load.concurrency, n_requests=requests, seed=seed)
    return stats(lat, ev.quantile, ev.deadline)


def _write(ev, k: int, n: int, st) -> None:
    """The simulated statistics into the evaluation's arrays (infinite when N does not fit the KV budget)."""
    ev.checked.cells[(k, n)] = st
    for key in KEYS:
        ev.latency[key][k, n] = np.inf if st is None else getattr(st, key)
    if ev.deadline is not None:
        ev.p_meet[k, n] = 0.0 if st is None else st.p_meet


def check_cell(ev, k: int, n: int):
    """Simulate one cell of `ev` and write its figures in (`predict` at a load); returns its SimStats or None."""
    _start(ev)
    st = simulate_cell(ev, k, n)
    _write(ev, k, n, st)
    return st


def _rescale(evs, ratio: dict) -> None:
    """Cells not simulated: their screened figure times `ratio` (the last simulated cell's simulated / screened)."""
    for ev in evs:
        chk = ev.checked
        for key in KEYS:
            arr = chk.screened[key] * ratio[key]
            for (k, n) in chk.cells:
                arr[k, n] = ev.latency[key][k, n]
            ev.latency[key][...] = arr


def _start(ev) -> None:
    """Give `ev` its Checked record and writable copies of the arrays the simulation overwrites."""
    if ev.checked is None:
        ev.latency = {**ev.latency, **{key: np.array(ev.latency[key], dtype=float) for key in KEYS}}
        ev.p_meet = np.array(ev.p_meet, dtype=float)
        ev.checked = Checked(screened={key: ev.latency[key].copy() for key in KEYS})


def _only_simulated(evs) -> None:
    for ev in evs:
        keep = np.zeros(ev.latency["q"].shape, dtype=bool)
        for (k, n) in ev.checked.cells:
            keep[k, n] = True
        for key in KEYS:
            ev.latency[key][~keep] = np.inf


def confirm(evs: list, pick: Callable[[], object]) -> object:
    """`pick()` (the rule over `evs`, returning a Pick) repeated until its cell was simulated; every evaluation
    gets `checked` (Checked). Raises the rule's own PlannerError when no simulated cell meets the deadline."""
    for ev in evs:
        _start(ev)
    for _ in range(MAX_SIMS):
        choice = pick()
        ev, (_, k, n) = choice.ev, choice.idx
        _start(ev)   # a pick off the given grids (none today) gets its record too
        if (k, n) in ev.checked.cells:
            return choice
        st = simulate_cell(ev, k, n)
        before = {key: float(ev.checked.screened[key][k, n]) for key in KEYS}
        _write(ev, k, n, st)
        if st is not None:
            _rescale(evs, {key: getattr(st, key) / before[key] if before[key] > 0 and np.isfinite(before[key])
                           else 1.0 for key in KEYS})
    _only_simulated(evs)
    return pick()


def note(choice, evs) -> str:
    """The plan's line on how its load figures were obtained."""
    ev = choice.ev
    st = ev.checked.cells[choice.idx[1:]]
    n_cells = sum(len(e.checked.cells) for e in evs if e.checked is not None)
    return (f"latency under load: simulated ({st.requests} requests after warm-up, the engine model event by "
            f"event; p{ev.quantile * 100:g} {st.q:.3g} ± {st.se['q']:.2g} s); {n_cells} configuration(s) "
            "simulated, the others' figures screened by the closed form (planner/model/load.py) scaled to the "
            "last simulated one")
