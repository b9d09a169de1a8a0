"""Whole engine rounds, the calibration source of the closed loop (planner.demo), measured in one pass: M samples per calibration problem (every
other problem run as branches of halving width, `batch_split`) through the executor give the sample bank
(accuracy, lengths), and the engine's own round records give the step-time points (decode rounds at every batch
size, verify rounds at K+1, draft forwards) and the acceptance per position, pooled and per draft length K.

Why the decode loop's rounds and not isolated forwards: on a CPU with a ~1M-parameter model, sampling and
bookkeeping cost as much as the forward itself; fitting whole rounds puts that overhead into t0 and verify_s,
where the latency model expects it. Target and draft are first fitted apart (`fit.fit_step_pooled`), then
refined together on whole rounds (`fit_rounds`), so per-round drafting work is not divided among the draft
forwards. The profile is assembled and written like every other source's (`output.save`); the rounds themselves
are kept next to it (`rounds.jsonl`)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from planner.calibrate.output import Measured
from planner.calibrate.settings import RoundsRun
from planner.errors import PlannerError
from planner.profile.assemble import ProfileParts

L_BUCKET = 8  # context positions pooled into one fit point
MIN_ROUNDS_K = 30  # rounds of one draft length before its own acceptance is used


def _pool(points: dict) -> list[dict]:
    """Mean per (B, q, L), like `whole_rounds` (a request lasts the sum of its rounds)."""
    return [{"B": b, "q": q, "L": L, "t_s": statistics.fmean(ts), "n": len(ts)}
            for (b, q, L), ts in sorted(points.items()) if ts]


def step_points(results) -> tuple[list[dict], list[dict], list[dict], list[float]]:
    """(target points, draft points, prefill points, [reached_i, accepted_i] sums) from engine round records."""
    tgt, drf, pre = defaultdict(list), defaultdict(list), []
    reached, accepted = [], []
    for res in results:
        for s in res.steps:
            L = max(L_BUCKET, round(s.context / L_BUCKET) * L_BUCKET)
            if s.kind == "prefill":
                pre.append({"tokens": s.q, "t_s": s.wall_s})
            elif s.kind == "decode":
                tgt[(s.batch, 1, L)].append(s.wall_s)
            elif s.kind == "spec":
                tgt[(s.batch, s.q, L)].append(s.wall_s - s.draft_s)
                if s.draft_forwards:
                    drf[(s.batch, 1, L)].append(s.draft_s / s.draft_forwards)
                for i, (r, a) in enumerate(zip(s.reached, s.accepted)):
                    if i >= len(reached):
                        reached.append(0)
                        accepted.append(0)
                    reached[i] += r
                    accepted[i] += a
    return _pool(tgt), _pool(drf), pre, [a / r for r, a in zip(reached, accepted) if r]


def whole_rounds(results) -> tuple[list[dict], dict[int, list[float]]]:
    """Whole rounds pooled by (K, B, L) for the joint fit (planner.calibrate.fit_rounds), and the acceptance per
    position measured in the rounds of each draft length K (kept where K had at least MIN_ROUNDS_K rounds).
    Pooled by the mean: a request lasts the sum of its rounds, and on a shared CPU a round's time is skewed
    (the mean round of a pooled point was 9-10 % above its median), so a median fit made requests too fast."""
    pts, reached, accepted, count = defaultdict(list), {}, {}, defaultdict(int)
    for res in results:
        for s in res.steps:
            if s.kind == "prefill":
                continue
            K = s.q - 1
            pts[(K, s.batch, max(L_BUCKET, round(s.context / L_BUCKET) * L_BUCKET))].append(s.wall_s)
            if K > 0 and len(s.reached) == K:
                r, a = reached.setdefault(K, [0] * K), accepted.setdefault(K, [0] * K)
                for i in range(K):
                    r[i] += s.reached[i]
                    a[i] += s.accepted[i]
                count[K] += 1
    by_k = {K: [a / r if r else 0.0 for r, a in zip(reached[K], accepted[K])] for K in reached
            if count[K] >= MIN_ROUNDS_K and all(reached[K])}
    return [{"K": K, "B": b, "L": L, "t_s": statistics.fmean(ts), "n": len(ts)}
            for (K, b, L), ts in sorted(pts.items())], by_k


def speed_factors(results, predict, count: int = 8, min_rounds: int = 5, min_group: int = 3) -> list[float] | None:
    """`count` equally likely factors measured/modelled for a whole run (hardware.speed_factors).

    Each run's decoding time is divided by the model's sum over its own rounds (predict(K, B, L) on arrays);
    runs are grouped by draft length and starting width and each group divided by its mean, so a systematic
    misfit of one kind of run stays out of the spread (and the mean factor stays 1): what remains is the
    machine's moment-to-moment speed, which the p90 must cover (a run of 52 tokens took 0.17 to 0.34 s here)."""
    import numpy as np

    groups = defaultdict(list)
    for res in results:
        rs = [s for s in res.steps if s.kind != "prefill"]
        if len(rs) < min_rounds:
            continue
        K, B, L = (np.array(v, dtype=float) for v in zip(*[(s.q - 1, s.batch, s.context) for s in rs]))
        groups[(int(K.max()), int(B[0]))].append(sum(s.wall_s for s in rs) / float(np.sum(predict(K, B, L))))
    ratios = [r / statistics.fmean(v) for v in groups.values() if len(v) >= min_group for r in v]
    if len(ratios) < 2 * count:
        return None
    return [round(float(np.quantile(ratios, (i + 0.5) / count)), 4) for i in range(count)]


def round_lines(results) -> str:
    """The calibration's engine rounds as JSONL (one per round, `run` = generate call), written next to the
    profile so a fit can be redone or inspected without re-measuring."""
    keys = ("kind", "batch", "q", "context", "wall_s", "draft_s", "forward_s", "draft_forwards", "emitted")
    out = []
    for run, res in enumerate(results):
        for s in res.steps:
            row = {k: (round(v, 7) if isinstance(v, float) else v) for k, v in ((k, getattr(s, k)) for k in keys)}
            out.append(json.dumps({"run": run} | row | {"reached": s.reached, "accepted": s.accepted}))
    return "".join(line + "\n" for line in out)


def batch_split(samples: int) -> list[int]:
    """A problem's samples as runs of halving width (16 -> 8, 4, 2, 1, 1). Every other calibration problem is
    run this way, the rest as one run of all samples: the bank is the same, and the rounds cover every batch size
    with runs that start at that size. One run of 16 reaches small batches only through its stragglers, whose
    rounds did not cost what a run started at that size costs (the N = 1 latency was 12-33 % off)."""
    out, rest = [], int(samples)
    while rest > 0:
        out.append(max(1, rest // 2))
        rest -= out[-1]
    return out


class Recorder:
    """Wraps a backend and keeps each call's engine step records (what calibration fits)."""

    def __init__(self, inner):
        self.inner, self.results = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __setattr__(self, name, value):
        if name in ("inner", "results"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def generate(self, *a, **kw):
        res = self.inner.generate(*a, **kw)
        self.results.append(res)
        return res


def measure_rounds(run: RoundsRun, backend, probs, log=print, between=None) -> Measured:
    """Run the calibration problems through `backend` (K cycling over run.draft_lens) and fit; the profile's
    parts, its bank and the raw rounds (`rounds.jsonl`). between(i): called after calibration problem i (e.g. to
    interleave other measurements in time)."""
    from planner.calibrate import hardware
    from planner.calibrate.fit import fit_prefill_pooled, fit_step_pooled
    from planner.calibrate.lengths import between_share
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, bank_entry, solve
    from planner.profile.hf_config import arch_from_hf_config
    from planner.validate import set_draft_len

    rec, eq, bank, ks = Recorder(backend), Equivalence(), [], run.draft_lens
    for i, prob in enumerate(probs):
        set_draft_len(rec, ks[i % len(ks)])
        samples_i = []
        for c, n in enumerate(batch_split(run.samples) if i % 2 else [run.samples]):
            settings = RunSettings(n, early_stop=False, template=run.template, seed=run.seed + 77 + 7919 * c)
            samples_i += bank_entry(prob, solve(prob, rec, settings, eq, index=i))["samples"]
        bank.append(bank_entry(prob, {"branches": []}) | {"samples": samples_i})
        if between is not None:
            between(i)
    tgt, drf, pre, alpha = step_points(rec.results)
    # hf_id = the local folders, so `planner run/validate --plan` find the models without --model/--draft
    arch = replace(arch_from_hf_config(run.target, name="miniworld-target"), hf_id=str(Path(run.target).resolve()))
    darch = replace(arch_from_hf_config(run.draft, name="miniworld-draft"), hf_id=str(Path(run.draft).resolve()))
    # whole rounds: a verify round has fixed extra work; each pooled point weighs as many rounds as it stands for
    step = fit_step_pooled(tgt, arch, fit_verify=True, weight_key="n")
    has_draft = bool(alpha) and len(drf) >= 2
    dstep = fit_step_pooled(drf, darch, weight_key="n") if has_draft else None
    rounds, alpha_k = whole_rounds(rec.results)
    if has_draft and step.verify_s is not None:
        # refine both fits on whole rounds, priced exactly as the latency model prices them
        from planner.calibrate.fit_rounds import fit_rounds

        step, dstep, _ = fit_rounds(rounds, arch, darch, step, dstep)
    from planner.model.latency import StepModel, spec_round

    models = (StepModel(step, arch), StepModel(dstep, darch) if dstep else None)
    factors = speed_factors(rec.results, lambda K, B, L: spec_round(*models, K, B, L))
    lengths = sorted(s["num_tokens"] for b in bank for s in b["samples"])
    if len(set(lengths)) < 2:
        raise PlannerError("calibration: every sample had the same length; cannot fit a length distribution")
    rho = between_share([[s["num_tokens"] for s in b["samples"]] for b in bank])
    acc = [s["correct"] for b in bank for s in b["samples"]]
    bw, gemm = hardware.measure_bandwidth("cpu", 128), hardware.measure_gemm("cpu", "fp32")
    parts = ProfileParts(
        id=run.id, description=run.description,
        provenance={"kind": "measured", "method": "rounds", "device": f"{hardware.cpu_name()} CPU, {run.threads} "
                    "thread(s)", "problems": len(probs), "samples": run.samples, "draft_lens": list(ks),
                    "fit_rel_error": step.fit_rel_error},
        hardware={"name": f"CPU ({run.threads} thread(s))", "mem_bw_GBps": bw["read_GBps"],
                  "bf16_tflops": gemm["tflops"], "memory_GB": round(hardware.cpu_memory_GB(), 1),
                  **({"speed_factors": factors} if factors else {})},
        model=arch, target=step, prefill=fit_prefill_pooled(pre),
        lengths={"kind": "empirical", "tokens": lengths, **({"between_share": rho} if rho is not None else {})},
        accuracy={"kind": "bank", "source": "whole-round calibration (val split)"},
        prompt_tokens=int(statistics.median(p["tokens"] for p in pre)), temperature=run.temperature,
        calibration={"target_points": tgt, "draft_points": drf, "round_points": rounds, "pass@1": sum(acc) / len(acc),
                     "bandwidth": bw, "gemm": gemm})
    if has_draft:
        parts.draft, parts.draft_arch, parts.draft_step = {"kind": "model", "name": "miniworld-draft"}, darch, dstep
        parts.acceptance = {"temperature": run.temperature, "alpha": [round(a, 4) for a in alpha]}
        if alpha_k:
            parts.acceptance["by_draft_len"] = {str(k): [round(a, 4) for a in v] for k, v in sorted(alpha_k.items())}
    log(f"calibrated {len(probs)} problems x {run.samples} samples: pass@1 {sum(acc) / len(acc):.1%}, "
        f"step fit error {step.fit_rel_error:.1%}, acceptance {[round(a, 2) for a in alpha]}"
        + "".join(f", at K = {k}: {[round(a, 2) for a in v]}" for k, v in sorted(alpha_k.items()))
        + (f"; speed of whole runs varied {factors[0]:.2f}x to {factors[-1]:.2f}x" if factors else ""))
    return Measured(parts, [{"schema": "tts-bank/1"} | b for b in bank], {"rounds.jsonl": round_lines(rec.results)})
