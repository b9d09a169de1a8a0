"""PNG of `planner pareto --compare sequential,parallel`: accuracy vs latency for longer chains (N = 1, the
budget grows), more branches (budget fixed, N grows) and both (the front over every budget and N)."""

from __future__ import annotations

from planner.plot import png_dir, save_png

STYLES = {"sequential": ("o-", "#2ca02c", "longer chains (N=1, budget grows)"),
          "parallel": ("s-", "#1f77b4", "more branches (budget fixed, N grows)"),
          "both": ("-", "#d62728", "both (front over budget x N)")}


def plot_compare(cmp: dict, profile_id: str, quantile: float, path: str) -> None:
    from planner.errors import require_extra

    require_extra(("matplotlib",), extra="plot", purpose="--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png_dir(path)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name in ("both", "sequential", "parallel"):
        pts = cmp[name]
        if not pts:
            continue
        style, color, label = STYLES[name]
        x, y = [c["latency_q_s"] for c in pts], [c["accuracy"] * 100 for c in pts]
        if name == "both":
            ax.step(x, y, where="post", color=color, lw=2.5, alpha=0.5, label=label)
        else:
            ax.plot(x, y, style, color=color, lw=1.5, ms=5, label=label)
            for c, xx, yy in zip(pts, x, y):
                ax.annotate(str(c["budget"] if name == "sequential" else c["N"]), (xx, yy), fontsize=7,
                            textcoords="offset points", xytext=(3, -9))
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(fmt)
    ax.set_xlabel(f"latency p{quantile * 100:g} (s, log scale)")
    ax.set_ylabel(f"predicted accuracy (%), {cmp['method']}")
    ax.set_title(f"{profile_id}: sequential vs parallel scaling")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, plt)
