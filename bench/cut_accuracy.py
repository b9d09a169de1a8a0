"""Accuracy under a deadline cut: the parametric path fitted to a sample bank against the bank's own samples.

    python bench/cut_accuracy.py                         # the shared Qwen2.5-Math MATH bank (100 x 8)
    python bench/cut_accuracy.py --bank b.jsonl --format tts-bank --splits 5

Brute force: keep each problem's samples no longer than the bank-wide length quantile f (a deadline that lets a
share f of all branches finish), plurality vote over what is left (ties split, nothing left = wrong). Columns:
"old" is the first parametric path (one average finish share, branches independent: voters ~ Bin(n, f));
"normal" cuts per problem node (planner/accuracy/cut.py) with a normal within-problem length shape and the
maximum-likelihood difficulty link; "new" uses the within-problem shape fitted to the bank's lengths
(calibrate.lengths.within_shape) and the link fitted to its cut curve (link.fit_to_bank). Then a train/test
split: everything fitted on one half of the problems, brute force on the other half."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from planner.accuracy import parametric as par  # noqa: E402
from planner.accuracy.bank import Bank, load_bank  # noqa: E402
from planner.accuracy.link import fit_to_bank  # noqa: E402
from planner.accuracy.model import ParametricAccuracyModel  # noqa: E402
from planner.calibrate.lengths import between_share, no_finish_model, within_shape  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "samples" / "qwen25math_math_cot_100.jsonl"
SHARES = (0.25, 0.5, 0.75, 0.9)


def brute_force(bank, share: float) -> tuple[float, float]:
    """(plurality accuracy of each problem's samples, share of problems with no finished sample) at a cut keeping
    samples <= the bank-wide `share` length quantile."""
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


def groups_of(bank) -> list[list[int]]:
    return [list(bank.num_tokens[bank.span(p)]) for p in range(bank.num_problems)]


def fitted_model(bank, shape: bool = True) -> tuple[ParametricAccuracyModel, dict]:
    """The parametric path fitted to a bank: rho (ANOVA), the within-problem shape from the lengths and the link
    from the cut curve (shape=True), or the normal shape with the maximum-likelihood link (shape=False)."""
    groups = groups_of(bank)
    rho = between_share(groups) or 0.0
    s = within_shape(groups, rho)[0] if shape else 0.0
    fit = fit_to_bank(bank, rho, s, lam_by="cuts" if shape else "ml")
    model = ParametricAccuracyModel(fit["beta_a"], fit["beta_b"], fit["wrong_mode_share"], between_share=rho,
                                    link=fit["link"], sample_size=bank.num_problems, within_shape=s)
    return model, fit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", default=str(SHARED))
    ap.add_argument("--format", default="qwen-math", help="tts-bank or qwen-math")
    ap.add_argument("--splits", type=int, default=5, help="random half/half train/test splits (0: none)")
    a = ap.parse_args()
    bank = load_bank(a.bank, a.format)
    m = int(bank.sizes.min())
    model, fit = fitted_model(bank)
    normal, nfit = fitted_model(bank, shape=False)
    print(f"bank {Path(a.bank).name}: {bank.num_problems} problems x {m} samples")
    print(f"fit: Beta a={fit['beta_a']:.3f} b={fit['beta_b']:.3f}, wrong_mode_share {fit['wrong_mode_share']:.3f}, "
          f"between_share {fit['between_share']}, within_shape {fit['within_shape']} (no-finish curve), "
          f"difficulty_length_corr {fit['link'].lam} (cut curve, rms {100 * fit['cut_rms']:.1f} points; max "
          f"likelihood {fit['lam_ml']}), wrong_length_shift {fit['link'].delta} (SE {fit['delta_se']:.2f}, "
          f"{fit['mixed_problems']} problems); normal column: wrong_length_shift {nfit['link'].delta}")
    fq = np.array(SHARES)
    new = model.table("majority", m, fq)[0][:, m - 1]
    nor = normal.table("majority", m, fq)[0][:, m - 1]
    old = par.binomial_thinning(par.majority_curve(model.a, model.b, model.rho, m), m, fq)[:, m - 1]
    none_new = no_finish_model(model.between_share, model.within_shape, [m], fq)
    none_nor = no_finish_model(model.between_share, 0.0, [m], fq)
    print(f"\nmaj@{m} under a cut that lets a share f of all branches finish (points; the bank's own SE is "
          f"std over problems / sqrt({bank.num_problems}), 3-5 points here)")
    print("| f | brute force (bank) | old: Bin(n, f) | normal shape, ML link | new | new - brute | "
          "no branch finished: bank | normal | new |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t, f in enumerate(SHARES):
        bf, none = brute_force(bank, f)
        print(f"| {f:.2f} | {100 * bf:.1f} | {100 * old[t]:.1f} | {100 * nor[t]:.1f} | {100 * new[t]:.1f} | "
              f"{100 * (new[t] - bf):+.1f} | {100 * none:.0f} % | {100 * none_nor[t]:.0f} % | "
              f"{100 * none_new[t]:.0f} % |")
    if a.splits:
        split_table(bank, m, a.splits)
    return 0


def split_table(bank, m: int, splits: int) -> None:
    """Fit on a random half of the problems, compare with brute force on the other half (new path)."""
    problems = list(bank.problems())
    rng = np.random.default_rng(0)
    err = []
    print(f"\ntrain/test: {splits} random half splits (seed 0); new path fitted on the train half, maj@{m} "
          f"new - brute force on the test half (points; a half's own SE is ~5-7 points)")
    print("| split | within_shape | lam | " + " | ".join(f"f = {f:.2f}" for f in SHARES) + " |")
    print("|---|---|---|" + "---|" * len(SHARES))
    floor = []   # train brute force - test brute force: what even a perfect fit to the train half would miss by
    for k in range(splits):
        idx = rng.permutation(len(problems))
        half = len(problems) // 2
        train = Bank.from_problems([problems[i] for i in idx[:half]])
        test = Bank.from_problems([problems[i] for i in idx[half:]])
        model, fit = fitted_model(train)
        pred = model.table("majority", m, np.array(SHARES))[0][:, m - 1]
        e = [100 * (pred[t] - brute_force(test, f)[0]) for t, f in enumerate(SHARES)]
        err.append(e)
        floor.append([100 * (brute_force(train, f)[0] - brute_force(test, f)[0]) for f in SHARES])
        print(f"| {k} | {fit['within_shape']} | {fit['link'].lam} | " + " | ".join(f"{x:+.1f}" for x in e) + " |")
    err = np.array(err)
    print("| mean abs | | | " + " | ".join(f"{x:.1f}" for x in np.abs(err).mean(0)) + " |")
    print("| noise floor: mean abs (train brute - test brute) | | | " +
          " | ".join(f"{x:.1f}" for x in np.abs(np.array(floor)).mean(0)) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
