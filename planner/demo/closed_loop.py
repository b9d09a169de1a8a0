"""The closed loop on the miniature world (calibrate → recommend → measure → compare), shared by
`planner demo`, `bench/regret.py` and the CI test, so the three exercise the same code.

Measurement goes through the executor (`runner.solve` via `planner.validate.measure`); nothing here decodes
or votes by itself. Sweeps are cached in a JSONL file keyed by everything that changes a measurement (models,
problems, sampling, threads), so re-running an analysis does not re-run the models."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from planner.calibrate.settings import RoundsRun
from planner.errors import PlannerError

MINIWORLD_WEIGHTS = Path(__file__).resolve().parent / "miniworld" / "weights"
RAW_TEMPLATE = "{question}"


@dataclass
class World:
    target: str
    draft: str
    temperature: float = 1.0
    max_tokens: int = 128         # the longest miniworld chain is under 100 tokens
    threads: int = 1
    seed: int = 0

    def tag(self, **extra) -> str:
        """Hash of everything that changes a measurement (weights by content, not by path)."""
        h = hashlib.blake2b(digest_size=8)
        for d in (self.target, self.draft):
            f = Path(d) / "model.safetensors"
            h.update(f.read_bytes() if f.is_file() else d.encode())
        h.update(json.dumps([self.temperature, self.max_tokens, self.threads, self.seed, extra],
                            sort_keys=True).encode())
        return h.hexdigest()


def miniworld(weights: str | None = None, **kw) -> World:
    root = Path(weights) if weights else MINIWORLD_WEIGHTS
    for name in ("target", "draft"):
        if not (root / name / "config.json").is_file():
            raise PlannerError(f"miniworld weights not found in {root}/{name} (train them: python -m "
                               f"tools.miniworld.train --out DIR, then pass --weights DIR)")
    return World(str(root / "target"), str(root / "draft"), **kw)


def problems(n: int, split: str, seed: int = 0, file: str | None = None):
    """Executor problems from the miniworld generator (`val` for calibration, `test` held out), or the first
    n of a JSONL file (e.g. one written by `python -m planner.demo.miniworld.task` for other weights)."""
    from planner.executor.datasets import DatasetProblem, load_problems

    if file:
        return load_problems(file, n)
    from planner.demo.miniworld.task import make_problems

    return [DatasetProblem(p["problem_id"], p["question"], p["reference"]) for p in make_problems(n, seed, split)]


def load_backend(world: World, k_max: int, log=print):
    """The executor's local backend for the miniworld target + draft (models loaded once)."""
    from planner.executor.setup import make_local_backend

    backend, _ = make_local_backend(world.target, world.draft, k_max, world.temperature, 1.0, world.max_tokens,
                                    device="cpu", dtype="fp32", threads=world.threads, log=log)
    return backend


def rounds_run(world: World, samples: int, ks) -> RoundsRun:
    """The whole-round calibration settings of this world."""
    return RoundsRun(world.target, world.draft, RAW_TEMPLATE, samples=samples, draft_lens=tuple(ks),
                     temperature=world.temperature, threads=world.threads, seed=world.seed,
                     id=f"miniworld-cpu{world.threads}t",
                     description=f"miniworld target + draft on this CPU ({world.threads} thread(s)), closed-loop "
                                 "calibration")


def calibrate_world(world: World, backend, probs, out_dir: Path, samples: int = 16, ks=(0, 2, 4), log=print) -> Path:
    """Measure a profile of the miniworld on this machine, through the calibration sources' one assembler and
    writer (planner.calibrate.output.save); returns the profile path (bank and rounds next to it)."""
    from planner.calibrate.output import save
    from planner.calibrate.rounds import measure_rounds

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "profile.json"
    save(measure_rounds(rounds_run(world, samples, ks), backend, probs, log), path)
    return path


def cached_sweep(cache: Path | None, tag: str, n_problems: int) -> dict[str, list[dict]]:
    """Configuration key -> records, for the cache's complete rows of this tag."""
    have: dict[str, list[dict]] = {}
    if cache is not None and cache.is_file():
        for line in cache.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run: that configuration is measured again
            if row.get("tag") == tag and len(row.get("records", ())) == n_problems:
                have[row["config"]] = row["records"]
    return have


def sweep(backend, probs, configs, horizon_s: float | None, cache: Path | None, tag: str, log=print,
          progress: bool = True) -> dict[str, list[dict]]:
    """Measure every configuration on every problem (untruncated up to the horizon); cached by `tag`."""
    from planner import validate as V

    have = cached_sweep(cache, tag, len(probs))
    out = {}
    for i, cfg in enumerate(configs):
        if cfg.key in have:
            out[cfg.key] = have[cfg.key]
            continue
        t = time.perf_counter()
        out[cfg.key] = V.measure(backend, probs, cfg, horizon_s, RAW_TEMPLATE, 0, None, False, progress)
        log(f"  [{i + 1}/{len(configs)}] {cfg.key}: {len(probs)} problems in {time.perf_counter() - t:.0f} s")
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with cache.open("a") as f:
                f.write(json.dumps({"tag": tag, "config": cfg.key, "records": out[cfg.key]}) + "\n")
    return out


def calibrate_and_sweep(world: World, backend, cal_probs, probs, configs, out_dir: Path, samples: int, ks,
                        cache: Path | None, tag: str, log=print) -> tuple[Path, dict[str, list[dict]]]:
    """Calibration and the brute-force sweep interleaved in time: after each calibration problem, the held-out
    problems due by then are run in every configuration (in an order rotating per problem).

    Why: on a shared VM the machine's speed moved by 30-50 % within an hour; calibrating first and sweeping
    afterwards then tested the VM's drift, not the model. Interleaved, both see the same mix of moments. Every
    held-out record is the one `sweep` would produce (same seeds); the sweep is cached like `sweep`'s."""
    from planner import validate as V
    from planner.calibrate.output import save
    from planner.calibrate.rounds import measure_rounds
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, solve

    eq = Equivalence()
    out: dict[str, list] = {c.key: [None] * len(probs) for c in configs}
    done, t0 = 0, time.perf_counter()

    def run_heldout(j: int) -> None:
        k = j % len(configs)
        for c in configs[k:] + configs[:k]:
            V.set_draft_len(backend, c.draft_len)
            settings = RunSettings(c.branches, c.method, None, False, None, template=RAW_TEMPLATE, seed=0)
            out[c.key][j] = V.compact(solve(probs[j], backend, settings, eq, index=j))

    def between(i: int) -> None:
        nonlocal done
        while done < (i + 1) * len(probs) // len(cal_probs):
            run_heldout(done)
            done += 1
        log(f"  calibration problem {i + 1}/{len(cal_probs)}, held-out {done}/{len(probs)} x {len(configs)} "
            f"configurations ({time.perf_counter() - t0:.0f} s)")

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "profile.json"
    save(measure_rounds(rounds_run(world, samples, ks), backend, cal_probs, log, between=between), path)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("a") as f:
            for c in configs:
                f.write(json.dumps({"tag": tag, "config": c.key, "records": out[c.key]}) + "\n")
    return path, out


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def deadlines_between(measured: dict[str, list[dict]], count: int) -> list[float]:
    """`count` deadlines spread geometrically over the range in which the best configuration changes: from 5 %
    above the fastest configuration's measured p90 to 5 % above the slowest one's. Not from the fastest p90
    itself: there the measured best meets the quantile exactly, one configuration is feasible on a knife's edge,
    and a prediction 1 % high turns "pick it" into "nothing feasible" (regret = its whole accuracy)."""
    import numpy as np

    p90 = [float(np.quantile([r["latency_s"] for r in recs], 0.9)) for recs in measured.values()]
    lo, hi = min(p90) * 1.05, max(p90) * 1.05
    return [round(float(x), 4) for x in np.geomspace(lo, hi, count)]


def paired_se(best: list[dict], pick: list[dict], deadline: float, eq) -> float:
    """Standard error of a regret: both configurations ran on the same problems, so the per-problem
    differences (correct under best minus correct under the pick) carry the sampling noise of the comparison.
    The measured best is the maximum of noisy accuracies: a regret within ~2 SE of 0 is noise."""
    import numpy as np

    from planner import validate as V

    def correct(rec: dict) -> float:
        return float(bool(V.outcome(rec, deadline, "majority", eq)[0]))

    diff = [correct(b) - correct(p) for b, p in zip(best, pick)]
    return float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0


def regret_rows(profile, configs, measured: dict[str, list[dict]], deadlines, quantile: float = 0.9,
                strategies=("exhaustive", "greedy", "optuna"), trials: int = 100) -> list[dict]:
    """Per deadline and strategy: the pick, its predicted and measured accuracy and hit rate, and the regret
    vs the measured-best configuration (best among those whose measured hit rate meets the quantile; also
    the best with no hit-rate condition)."""
    from planner import validate as V
    from planner.executor.answers import Equivalence
    from planner.optimize.evaluate import evaluate
    from planner.optimize.strategies import SearchSettings, pick

    eq = Equivalence()
    N = sorted({c.branches for c in configs})
    K = sorted({c.draft_len for c in configs})
    rows = []
    for d in deadlines:
        meas = {c.key: V.summarize(measured[c.key], d, c.method, eq) for c in configs}
        ok = [c for c in configs if meas[c.key]["hit_rate"] >= quantile]
        best = max(ok, key=lambda c: meas[c.key]["accuracy"]) if ok else None
        best_any = max(configs, key=lambda c: meas[c.key]["accuracy"])
        ev = evaluate(profile, d, quantile, ("majority",), n_values=N, k_values_=K)
        for s in strategies:
            got = pick(s, ev, SearchSettings(trials=trials))
            idx = got.idx if got is not None else None
            row = {"deadline_s": d, "strategy": s, "best": best.key if best else None,
                   "best_accuracy": meas[best.key]["accuracy"] if best else None,
                   "best_any": best_any.key, "best_any_accuracy": meas[best_any.key]["accuracy"]}
            if idx is None:
                rows.append(row | {"pick": None, "accuracy": 0.0, "hit_rate": None, "predicted_accuracy": None,
                                   "regret": row["best_accuracy"], "regret_any": row["best_any_accuracy"]})
                continue
            cfg = V.Config("majority", int(ev.N[idx[2]]), int(ev.K[idx[1]]))
            m = meas[cfg.key]
            rows.append(row | {"pick": cfg.key, "accuracy": m["accuracy"], "hit_rate": m["hit_rate"],
                               "predicted_accuracy": float(ev.acc[idx]),
                               "predicted_p_meet": float(ev.p_meet[idx[1:]]),
                               "regret": None if best is None else meas[best.key]["accuracy"] - m["accuracy"],
                               "regret_se": None if best is None else paired_se(measured[best.key],
                                                                                measured[cfg.key], d, eq),
                               "regret_any": meas[best_any.key]["accuracy"] - m["accuracy"]})
    return rows
