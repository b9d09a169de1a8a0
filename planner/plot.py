"""Matplotlib rendering of the accuracy-vs-latency front (imported only by `planner pareto --plot`)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from planner.errors import PlannerError


def plot_front(ev, front, greedy, chosen, path: str) -> None:
    from planner.errors import require_extra

    require_extra(("matplotlib",), extra="plot", purpose="--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lat = ev.lat("q")
    ok = ev.fits_memory[None, None, :] & np.ones_like(ev.acc, dtype=bool)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    ax.scatter(lat[ok], ev.acc[ok] * 100, s=4, c="#c8c8c8", label="all configurations", zorder=1)
    fl = [lat[i] for i in front]
    fa = [ev.acc[i] * 100 for i in front]
    ax.step(fl, fa, where="post", color="#1f77b4", lw=2, label="Pareto front", zorder=2)
    if greedy:
        ax.plot([lat[i] for i in greedy], [ev.acc[i] * 100 for i in greedy], "-", color="#ff7f0e", lw=1.2,
                label="greedy path (baseline)", zorder=3)
    if chosen is not None:
        c = ev.config(*chosen)
        ax.scatter([c["latency_q_s"]], [c["accuracy"] * 100], marker="*", s=220, c="#d62728", zorder=4,
                   label=f"plan: N={c['branches']} K={c['draft_len']} ({c['accuracy'] * 100:.1f} %)")
    if ev.deadline:
        ax.axvline(ev.deadline, color="#d62728", ls="--", lw=1, label=f"deadline {ev.deadline:g} s")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(fmt)
    ax.set_xlabel(f"latency p{ev.quantile * 100:g} (s, log scale)")
    ax.set_ylabel("predicted accuracy (%)")
    ax.set_title(f"{ev.profile.id}: accuracy vs latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, plt)


def png_dir(path: str) -> str:
    """The folder a PNG will be written to; refuses a missing one before any drawing."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise PlannerError(f"cannot write {path}: directory {d} does not exist")
    return d


def save_png(fig, path: str, plt) -> None:
    """Write the figure atomically (a temp file in the same folder, then rename) and close it."""
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=png_dir(path))
    os.close(fd)
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
