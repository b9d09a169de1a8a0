"""Accuracy under a deadline cut: the parametric path fitted to a sample bank against the bank's own samples.

    python bench/cut_accuracy.py                         # the shared Qwen2.5-Math MATH bank (100 x 8)
    python bench/cut_accuracy.py --bank b.jsonl --format tts-bank

Brute force: keep each problem's samples no longer than the bank-wide length quantile f (a deadline that lets a
share f of all branches finish), plurality vote over what is left (ties split, nothing left = wrong). "old" is the
previous parametric path (one average finish share, branches independent: voters ~ Bin(n, f)); "new" cuts per
problem node (planner/accuracy/cut.py) with the length share rho and the link fitted to the same bank."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from planner.accuracy import parametric as par  # noqa: E402
from planner.accuracy.bank import load_bank  # noqa: E402
from planner.accuracy.link import fit_to_bank  # noqa: E402
from planner.accuracy.model import ParametricAccuracyModel  # noqa: E402
from planner.calibrate.lengths import between_share  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "samples" / "qwen25math_math_cot_100.jsonl"
SHARES = (0.25, 0.5, 0.75, 0.9)


def brute_force(bank, share: float, n: int | None = None) -> tuple[float, float]:
    """(plurality accuracy over each problem's first n kept samples' ... all M when n is None, share of problems
    with no finished sample) at a cut keeping samples <= the bank-wide `share` length quantile."""
    thr = np.quantile(bank.num_tokens, share, method="inverted_cdf")
    acc, none = [], 0
    for prob in bank.problems():
        votes: dict = {}
        for s in prob.samples:
            if s.num_tokens <= thr and (s.correct or s.answer is not None):
                key = "__correct__" if s.correct else s.answer
                votes[key] = votes.get(key, 0) + 1
        if not votes:
            none += 1
            acc.append(0.0)
            continue
        top = max(votes.values())
        leaders = [k for k, v in votes.items() if v == top]
        acc.append(("__correct__" in leaders) / len(leaders))
    return float(np.mean(acc)), none / bank.num_problems


def fitted_model(bank) -> tuple[ParametricAccuracyModel, dict]:
    rho = between_share([list(bank.num_tokens[bank.span(p)]) for p in range(bank.num_problems)]) or 0.0
    fit = fit_to_bank(bank, rho)
    model = ParametricAccuracyModel(fit["beta_a"], fit["beta_b"], fit["wrong_mode_share"], between_share=rho,
                                    link=fit["link"], sample_size=bank.num_problems)
    return model, fit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", default=str(SHARED))
    ap.add_argument("--format", default="qwen-math", help="tts-bank or qwen-math")
    a = ap.parse_args()
    bank = load_bank(a.bank, a.format)
    m = int(bank.sizes.min())
    model, fit = fitted_model(bank)
    print(f"bank {Path(a.bank).name}: {bank.num_problems} problems x {m} samples")
    print(f"fit: Beta a={fit['beta_a']:.3f} b={fit['beta_b']:.3f}, wrong_mode_share {fit['wrong_mode_share']:.3f}, "
          f"between_share {fit['between_share']}, difficulty_length_corr {fit['link'].lam} (max likelihood), "
          f"wrong_length_shift {fit['link'].delta} (SE {fit['delta_se']:.2f}, {fit['mixed_problems']} problems)")
    fq = np.array(SHARES)
    new, new_se = model.table("majority", m, fq)
    old = par.binomial_thinning(par.majority_curve(model.a, model.b, model.rho, m), m, fq)
    none_model = model.cut_tables("pass", m).global_cut(fq)   # P(some branch finished) via pass@n of p = 1
    print(f"\nmaj@{m} under a cut that lets a share f of all branches finish (points; SE of the bank: "
          f"std over problems / sqrt({bank.num_problems}))")
    print(f"| f | brute force (bank) | old: Bin(n, f) | new: per node | new - brute | no branch finished: "
          f"bank | new |")
    print("|---|---|---|---|---|---|---|")
    for t, f in enumerate(SHARES):
        bf, none = brute_force(bank, f)
        p_none = 1.0 - _some_finished(model, f, m)
        print(f"| {f:.2f} | {100 * bf:.1f} | {100 * old[t, m - 1]:.1f} | {100 * new[t, m - 1]:.1f} | "
              f"{100 * (new[t, m - 1] - bf):+.1f} | {100 * none:.0f} % | {100 * p_none:.0f} % |")
    del none_model
    return 0


def _some_finished(model: ParametricAccuracyModel, f: float, n: int) -> float:
    """P(at least one of n branches finished) under the model's nodes: pass@n of a problem that is always right."""
    sure = ParametricAccuracyModel(1e3, 1e-3, 0.0, between_share=model.between_share)
    return float(sure.table("pass", n, [f])[0][0, n - 1])


if __name__ == "__main__":
    raise SystemExit(main())
