"""Where a miniworld request's time goes, measured vs the profile's latency model, round by round.

Runs held-out problems at each (K, N) with the executor and compares, per decode round: the target forward
(verify) time, the time per draft forward, and the tokens a row gains per round, with what the profile
predicts for exactly those rounds (`planner.model.latency`). It separates the three ways a latency
prediction can be off (target step, draft step, acceptance), which bench/regret.py only shows summed. The
closed loop fits whole rounds (calibrate/fit_rounds.py), so drafting work paid once per round sits in the
predicted verify (`verify_s`) while the measured verify excludes it: compare whole rounds first.

    python bench/regret.py                                  # writes the calibration this reads
    python bench/round_breakdown.py [--profile PATH] [--problems 8] [--repeat 2]

--repeat runs the whole table again, to show how far this machine's speed moves between minutes."""

from __future__ import annotations

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv=None) -> int:
    from bench.regret import DEFAULT_CACHE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", help=f"closed-loop profile (default: the newest under {DEFAULT_CACHE})")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args(argv)

    import numpy as np

    from planner.demo import closed_loop as CL
    from planner import validate as V
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, solve
    from planner.model.latency import draft_step, round_time, target_step, tokens_per_round
    from planner.profile import load_profile

    path = a.profile or max(glob.glob(str(DEFAULT_CACHE / "cal-*" / "profile.json")), key=os.path.getmtime,
                            default=None)
    if not path:
        print("no profile: run bench/regret.py first or pass --profile", file=sys.stderr)
        return 2
    prof = load_profile(path)
    ts, ds = target_step(prof), draft_step(prof)
    world = CL.miniworld(None, threads=1)
    from planner.calibrate.rounds import Recorder

    rec = Recorder(CL.load_backend(world, 4, lambda m: None))
    probs, eq = CL.problems(a.problems, "test"), Equivalence()
    print(f"profile {path}\n")
    print("| pass | K | N | rounds | round ms meas / pred | verify ms meas / pred | per draft forward ms meas / pred "
          "| tokens per row-round meas / model |")
    print("|---|---|---|---|---|---|---|---|")
    for rep in range(a.repeat):
        for K in (0, 2, 4):
            for N in (1, 8, 16):
                rec.results.clear()
                V.set_draft_len(rec, K)
                for j, p in enumerate(probs):
                    solve(p, rec, RunSettings(N, "majority", None, False, None, template=CL.RAW_TEMPLATE), eq, index=j)
                st = [s for r in rec.results for s in r.steps if s.kind != "prefill"]
                rnd = np.mean([s.wall_s for s in st]) * 1e3
                rnd_p = np.mean([float(round_time(prof, s.q - 1, s.batch, s.context)) for s in st]) * 1e3
                ver = np.mean([s.wall_s - s.draft_s for s in st]) * 1e3
                ver_p = np.mean([float(ts.time(s.batch, s.q, s.context)) for s in st]) * 1e3
                drf = "-"
                if K and ds is not None:
                    dm = np.mean([s.draft_s / s.draft_forwards for s in st if s.draft_forwards]) * 1e3
                    dp = np.mean([float(ds.time(s.batch, 1, s.context)) for s in st if s.draft_forwards]) * 1e3
                    drf = f"{dm:.2f} / {dp:.2f}"
                tok = sum(s.emitted for s in st) / sum(s.batch for s in st)
                print(f"| {rep + 1} | {K} | {N} | {len(st)} | {rnd:.2f} / {rnd_p:.2f} | {ver:.2f} / {ver_p:.2f} | "
                      f"{drf} | {tok:.2f} / {float(tokens_per_round(prof, K)):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
