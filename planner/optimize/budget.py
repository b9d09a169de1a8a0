"""The answer budget (max_tokens per branch) as a search axis: sequential scaling next to N and K.

A budget is a cut at a token count, so every piece already exists: the latency model caps lengths at it
(LengthDist(cap)), the parametric accuracy model reads the capped finish share per problem node through its cut
tables (cut.py), and a bank loses every sample longer than the budget (it has no forced answer to fall back on:
the branch was stopped before it answered, so it does not vote; docs/accuracy.md). One Evaluation per budget,
all on the same (method, K, N) grid; every strategy searches the union and applies the one selection rule.
Without budgets nothing here runs: `planner recommend` is unchanged."""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.optimize import exhaustive
from planner.optimize.evaluate import Evaluation, accuracy_model, evaluate
from planner.optimize.select import Rule, select
from planner.optimize.strategies import Pick, SearchSettings
from planner.profile.schema import Profile

MAX_BUDGETS = 16
DEFAULT_LEVELS = (0.25, 0.5, 0.75, 0.9)   # length quantiles that default budgets sit at (plus the maximum)


def check_budgets(p: Profile, budgets) -> tuple[int, ...]:
    """Sorted distinct budgets; one below the profile's shortest answer (lengths.min_tokens) can never answer."""
    out = []
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise PlannerError(f"budgets must be positive integers (tokens), got {b!r}; e.g. --budgets 512,1024")
        if b < p.lengths.min_tokens:
            raise PlannerError(f"budget {b} tokens is below the shortest answer of profile {p.id} "
                               f"(lengths.min_tokens = {p.lengths.min_tokens}): no branch could answer; give "
                               f"budgets of at least {p.lengths.min_tokens}")
        out.append(int(b))
    if not out:
        raise PlannerError("budgets is empty; give at least one, e.g. --budgets 512,1024,2048")
    if len(set(out)) > MAX_BUDGETS:
        raise PlannerError(f"at most {MAX_BUDGETS} budgets, got {len(set(out))}")
    return tuple(sorted(set(out)))


def default_budgets(p: Profile) -> tuple[int, ...]:
    """Budgets at the profile's length quantiles 25/50/75/90 % plus its maximum (no cap)."""
    from planner.model.lengths import LengthDist

    q = LengthDist(p.lengths).quantile(np.array(DEFAULT_LEVELS))
    got = {max(int(round(x)), p.lengths.min_tokens) for x in q} | {int(p.lengths.max_tokens)}
    return tuple(sorted(got))


def evaluate_budgets(p: Profile, deadline: float | None, quantile: float = 0.9, methods=None, n_max: int = 256,
                     k_max: int = 8, budgets=(), n_values=None, k_values_=None, load=None) -> list[Evaluation]:
    """One Evaluation per budget (ascending). A budget at or above the profile's max_tokens is no cap. `load`
    (planner/model/load.Load): every budget's latency at that load (a shorter budget also frees the engine)."""
    out = []
    for b in check_budgets(p, budgets):
        cap = b if b < p.lengths.max_tokens else None
        ev = evaluate(p, deadline, quantile, methods, n_max=n_max, k_max=k_max, n_values=n_values,
                      k_values_=k_values_, max_tokens=cap, load=load)
        if cap is not None and not hasattr(accuracy_model(p), "node_accuracy"):
            _bank_under_budget(ev, cap)
        out.append(ev)
    return out


def _bank_under_budget(ev: Evaluation, budget: int) -> None:
    """Bank accuracy under a budget: a sample votes iff num_tokens <= budget and it finished by the deadline.
    The latency model's finish share (of the capped length model) is rescaled to the bank's own share under the
    budget, so a deadline that does not bind keeps exactly the samples within the budget."""
    from planner.accuracy import estimators as est

    am = accuracy_model(ev.profile)
    bank = am.bank
    share = float(np.mean(bank.num_tokens <= budget))
    # the share answered with no deadline (the latency model's own node mix, so a non-binding deadline maps to 1)
    free = evaluate(ev.profile, None, ev.quantile, ev.methods[:1], n_values=[1], k_values_=[int(ev.K[0])],
                    max_tokens=budget).finish[0, 0] if ev.deadline is not None else None
    rel = np.ones_like(ev.finish) if free is None else np.clip(ev.finish / max(free, 1e-300), 0.0, 1.0)
    f = np.where(rel >= 1.0 - 1e-9, share, rel * share)
    from planner.optimize.evaluate import F_GRID

    grid = np.unique(np.concatenate([F_GRID[F_GRID < share], [share]]))
    if len(grid) == 1:
        grid = np.array([0.0, share])
    thr = np.minimum(am.thresholds(grid), budget)
    keep = (bank.num_tokens[None, :] <= thr[:, None]) & bank.answered[None, :]
    j = np.clip(np.searchsorted(grid, f), 1, len(grid) - 1)
    w = np.clip((f - grid[j - 1]) / (grid[j] - grid[j - 1]), 0.0, 1.0)
    cols = ev.N - 1
    n_max = int(ev.N.max())
    for i, m in enumerate(ev.methods):
        per = np.empty((bank.num_problems, len(grid), n_max))
        for pr in range(bank.num_problems):
            masks, inv = np.unique(keep[:, bank.span(pr)], axis=0, return_inverse=True)
            rows = np.stack([am._row(m, pr, mk, n_max) for mk in masks])
            per[pr] = rows[inv.reshape(-1)]
        t, t_se = est.mean_stderr(per)
        ev.acc[i] = t[j - 1, cols[None, :]] + w * (t[j, cols[None, :]] - t[j - 1, cols[None, :]])
        ev.acc_se[i] = t_se[j - 1, cols[None, :]] + w * (t_se[j, cols[None, :]] - t_se[j - 1, cols[None, :]])


Index4 = tuple[int, int, int, int]   # (budget, method, K, N) indices


def exhaustive_index(evs: list[Evaluation], rule: Rule | None = None, masks=None) -> Index4 | None:
    """The selection rule over the union of every budget's feasible (or masked) configurations."""
    idx, cols = [], []
    for b, ev in enumerate(evs):
        ok = ev.feasible() if masks is None else masks[b]
        i, c = exhaustive.candidates(ev, ok)
        idx.append(np.column_stack([np.full(len(i), b), i]) if len(i) else np.empty((0, 4), int))
        cols.append(np.array(c).reshape(5, -1))
    allc = np.concatenate(cols, axis=1)
    if allc.shape[1] == 0:
        return None
    j = select(*allc, rule or Rule())
    return tuple(int(x) for x in np.concatenate(idx)[j])


def greedy_path(evs: list[Evaluation], method: int = 0) -> list[Index4]:
    """The seed paper's greedy with a fourth move: start at the smallest budget, N = 1, K = 0; each step raises
    N (by 1 or 2), K or the budget, whichever buys the most accuracy per second of added latency."""
    acc = np.stack([ev.acc[method] for ev in evs])
    lat = np.stack([ev.latency["q"] for ev in evs])
    ok = np.stack([ev.feasible()[method] for ev in evs])
    s = (0, 0, 0)
    path = [(0, method, 0, 0)]
    while True:
        b, k, n = s
        moves = [mv for mv in ((b, k, n + 1), (b, k, n + 2), (b, k + 1, n), (b + 1, k, n))
                 if all(x < dim for x, dim in zip(mv, acc.shape))]
        if not ok[s]:
            faster = [mv for mv in moves if lat[mv] < lat[s]]
            if not faster:
                return path
            s = min(faster, key=lambda mv: lat[mv])
            path.append((s[0], method, s[1], s[2]))
            continue
        best, best_score = None, -np.inf
        for mv in moves:
            if not ok[mv]:
                continue
            d_acc, d_lat = acc[mv] - acc[s], lat[mv] - lat[s]
            if d_lat <= 0 and d_acc >= 0:
                score = np.inf if d_acc > 0 or d_lat < 0 else -np.inf
            else:
                score = d_acc / d_lat if d_acc > 0 else -np.inf
            if score > best_score:
                best, best_score = mv, score
        if best is None or best_score == -np.inf:
            return path
        s = best
        path.append((s[0], method, s[1], s[2]))


def greedy_index(evs: list[Evaluation], rule: Rule | None = None) -> Index4 | None:
    masks = [np.zeros_like(ev.feasible()) for ev in evs]
    for m in range(len(evs[0].methods)):
        for b, mm, k, n in greedy_path(evs, m):
            masks[b][mm, k, n] = evs[b].feasible()[mm, k, n]
    return exhaustive_index(evs, rule, masks) if any(mk.any() for mk in masks) else None


def optuna_index(evs: list[Evaluation], trials: int = 300, seed: int = 0, rule: Rule | None = None) -> Index4 | None:
    """TPE over (budget, method, K, N) with the deadline as a constraint; the rule picks among feasible trials."""
    from planner.optimize.optuna_search import _quiet

    optuna = _quiet()
    ev0 = evs[0]
    deadline = ev0.deadline if ev0.deadline is not None else np.inf

    def objective(trial):
        b = trial.suggest_int("budget", 0, len(evs) - 1) if len(evs) > 1 else 0
        m = trial.suggest_categorical("method", list(range(len(ev0.methods)))) if len(ev0.methods) > 1 else 0
        k = trial.suggest_int("k", 0, len(ev0.K) - 1) if len(ev0.K) > 1 else 0
        n = trial.suggest_int("n", 1, len(ev0.N), log=True) - 1
        trial.set_user_attr("idx", (b, m, k, n))
        ev = evs[b]
        trial.set_constraint("latency_over_deadline",
                             float(ev.latency["q"][k, n] - deadline) if ev.fits_memory[n] else 1e9)
        return float(ev.acc[m, k, n])

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=min(20, trials)))
    study.optimize(objective, n_trials=trials)
    masks = [np.zeros_like(ev.feasible()) for ev in evs]
    for t in study.trials:
        b, m, k, n = t.user_attrs["idx"]
        masks[b][m, k, n] = evs[b].feasible()[m, k, n]
    return exhaustive_index(evs, rule, masks) if any(mk.any() for mk in masks) else None


def pick(name: str, evs: list[Evaluation], settings: SearchSettings | None = None) -> Pick | None:
    """Strategy `name` over the budgets of one profile; the Pick points into the chosen budget's Evaluation."""
    s = settings or SearchSettings()
    if name == "exhaustive":
        got = exhaustive_index(evs, s.rule)
    elif name == "greedy":
        got = greedy_index(evs, s.rule)
    elif name == "optuna":
        got = optuna_index(evs, s.trials, s.seed, s.rule)
    elif name == "optuna-cap":
        raise PlannerError("--budgets and --strategy optuna-cap contradict: optuna-cap tunes its own max_tokens; "
                           "drop one of them")
    else:
        from planner.optimize.strategies import get_strategy

        get_strategy(name)  # raises the usual unknown-strategy error
        raise AssertionError(name)
    return None if got is None else Pick(evs[got[0]], got[1:], evs[got[0]])


def min_latency_pick(evs: list[Evaluation], target_accuracy: float) -> Pick | None:
    """Fastest configuration over every budget whose accuracy reaches the target."""
    best = None
    for ev in evs:
        i = exhaustive.min_latency_index(ev, target_accuracy)
        if i is not None and (best is None or ev.latency["q"][i[1:]] < best.ev.latency["q"][best.idx[1:]]):
            best = Pick(ev, i, ev)
    return best


def choose(per_profile: list[list[Evaluation]], target_accuracy: float | None, strategy: str,
           settings: SearchSettings) -> Pick:
    """choice.choose with a budget axis: each profile's pick over its budgets, then the same rule across them."""
    from planner.choice import settle

    picks = [p for p in ((pick(strategy, evs, settings) if target_accuracy is None
                          else min_latency_pick(evs, target_accuracy)) for evs in per_profile) if p is not None]
    flat = [ev for evs in per_profile for ev in evs]
    return settle(picks, flat, target_accuracy, settings, what="configuration and budget")


def parse_budgets(text: str, flag: str = "--budgets") -> tuple[int, ...]:
    """`512,1024,2k` -> (512, 1024, 2000) tokens (checked against a profile by check_budgets)."""
    out = []
    for part in str(text).split(","):
        t = part.strip().lower()
        mult = 1000 if t.endswith("k") else 1
        try:
            v = float(t[:-1] if mult > 1 else t) * mult
        except ValueError:
            v = float("nan")
        if not np.isfinite(v) or v != int(v) or v < 1:
            raise PlannerError(f"{flag} must be comma-separated token counts (positive integers), got {part!r}; "
                               f"e.g. {flag} 512,1024,2048")
        out.append(int(v))
    return tuple(out)


COMPARE_N = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def compare(p: Profile, deadline: float | None, quantile: float = 0.9, budgets=None, method: str | None = None,
            n_max: int = 64) -> dict:
    """The seed paper's comparison for one profile, no speculation (K = 0): "sequential" = one branch whose
    budget grows, "parallel" = the largest budget with N = 1, 2, 4, ... branches, "both" = the accuracy-vs-latency
    front over every (budget, N). Each point: {"budget", "N", "latency_q_s", "accuracy", "accuracy_stderr"}."""
    bud = check_budgets(p, budgets if budgets is not None else default_budgets(p))
    ns = [n for n in COMPARE_N if n <= n_max]
    meth = (method,) if method else (accuracy_model(p).methods[0],)
    evs = evaluate_budgets(p, deadline, quantile, meth, budgets=bud, n_values=ns, k_values_=[0])

    def point(b, n):
        ev = evs[b]
        return {"budget": bud[b], "N": ns[n], "latency_q_s": float(ev.latency["q"][0, n]),
                "accuracy": float(ev.acc[0, 0, n]), "accuracy_stderr": float(ev.acc_se[0, 0, n]),
                "feasible": bool(ev.feasible()[0, 0, n])}

    every = [point(b, n) for b in range(len(bud)) for n in range(len(ns))]
    ok = [c for c in every if c["feasible"]]
    front, best = [], -np.inf
    for c in sorted(ok, key=lambda c: (c["latency_q_s"], -c["accuracy"])):
        if c["accuracy"] > best + 1e-12:
            front.append(c)
            best = c["accuracy"]
    return {"method": meth[0], "budgets": bud, "N": tuple(ns),
            "sequential": [point(b, 0) for b in range(len(bud))],
            "parallel": [point(len(bud) - 1, n) for n in range(len(ns))],
            "both": front}
