"""A local-engine profile for the closed loop, measured in one pass: M samples per calibration problem (every
other problem run as branches of halving width, `batch_split`) through the executor give the sample bank (accuracy, lengths), and
the engine's own round records give the step-time points (decode rounds at every batch size, verify rounds at
K+1, draft forwards) and the per-position acceptance.

Why the decode loop's rounds and not isolated forwards: on a CPU with a ~1M-parameter model, sampling and
bookkeeping cost as much as the forward itself; fitting whole rounds puts that overhead into t0, where the
latency model expects it. The step formula and its fit are the project's own (`planner.serving.fit`).
This is the closed loop's own calibration; `planner calibrate` (calibrate/) is the general one."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from planner.errors import PlannerError

L_BUCKET = 8  # context positions pooled into one fit point


def _pool(points: dict) -> list[dict]:
    return [{"B": b, "q": q, "L": L, "t_s": statistics.median(ts), "n": len(ts)}
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


def _clean(obj) -> dict:
    return {k: v for k, v in obj.__dict__.items() if v is not None}


def fallback_profile(world, backend, probs, out_dir: Path, samples: int, ks, log=print, between=None) -> Path:
    """Run the calibration problems (K cycling over `ks`), fit, and write profile + bank into out_dir.
    between(i): called after calibration problem i (e.g. to interleave other measurements in time)."""
    from planner.closed_loop import RAW_TEMPLATE, Recorder
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, bank_entry, solve
    from planner.io import atomic_write_json, atomic_write_text
    from planner.profile.hf_config import arch_from_hf_config
    from planner.profile.schema import Profile
    from planner.serving.fit import fit_prefill, fit_step
    from planner.validate import set_draft_len

    rec, eq, bank = Recorder(backend), Equivalence(), []
    for i, prob in enumerate(probs):
        set_draft_len(rec, ks[i % len(ks)])
        samples_i = []
        for c, n in enumerate(batch_split(samples) if i % 2 else [samples]):
            settings = RunSettings(n, early_stop=False, template=RAW_TEMPLATE, seed=world.seed + 77 + 7919 * c)
            samples_i += bank_entry(prob, solve(prob, rec, settings, eq, index=i))["samples"]
        bank.append(bank_entry(prob, {"branches": []}) | {"samples": samples_i})
        if between is not None:
            between(i)
    tgt, drf, pre, alpha = step_points(rec.results)
    # hf_id = the local folders, so `planner run/validate --plan` find the models without --model/--draft
    arch = replace(arch_from_hf_config(world.target, name="miniworld-target"), hf_id=str(Path(world.target).resolve()))
    darch = replace(arch_from_hf_config(world.draft, name="miniworld-draft"), hf_id=str(Path(world.draft).resolve()))
    # whole rounds: a verify round has fixed extra work; each pooled point weighs as many rounds as it stands for
    step = fit_step(tgt, arch, fit_verify=True, weight_key="n")
    has_draft = bool(alpha) and len(drf) >= 2
    dstep = fit_step(drf, darch, weight_key="n") if has_draft else None
    prefill = fit_prefill(pre)
    lengths = sorted(s["num_tokens"] for b in bank for s in b["samples"])
    if len(set(lengths)) < 2:
        raise PlannerError("calibration: every sample had the same length; cannot fit a length distribution")
    from calibrate.lengths import between_share

    rho = between_share([[s["num_tokens"] for s in b["samples"]] for b in bank])
    bank_path = out_dir / "bank.jsonl"
    atomic_write_text(bank_path, "".join(json.dumps({"schema": "tts-bank/1"} | b) + "\n" for b in bank))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9 if hasattr(os, "sysconf") else 8.0
    acc = [s["correct"] for b in bank for s in b["samples"]]
    prof = {
        "schema": "tts-profile/1", "id": f"miniworld-cpu{world.threads}t",
        "description": f"miniworld target + draft on this CPU ({world.threads} thread(s)), closed-loop calibration",
        "provenance": {"kind": "measured", "method": "closed-loop (planner/closed_loop_fit.py)",
                       "device": f"{platform.processor() or platform.machine()} CPU, {world.threads} thread(s)",
                       "date": datetime.date.today().isoformat(), "problems": len(probs), "samples": samples,
                       "draft_lens": list(ks), "fit_rel_error": step.fit_rel_error},
        "hardware": {"name": f"CPU ({world.threads} thread(s))", "mem_bw_GBps": step.weight_bw_GBps,
                     "bf16_tflops": step.tflops, "memory_GB": round(mem, 1)},
        "model": _clean(arch), "step": {"target": _clean(step)}, "prefill": _clean(prefill),
        "draft": {"kind": "none"},
        "lengths": {"kind": "empirical", "tokens": lengths,
                    **({"between_share": rho} if rho is not None else {})},
        "accuracy": {"kind": "bank", "path": bank_path.name, "source": "closed-loop calibration (val split)"},
        "prompt_tokens": int(statistics.median(p["tokens"] for p in pre)),
        "temperature": world.temperature, "top_p": 1.0,
        "calibration": {"target_points": tgt, "draft_points": drf, "pass@1": sum(acc) / len(acc)},
    }
    if has_draft:
        prof["draft"] = {"kind": "model", "name": "miniworld-draft", "arch": _clean(darch)}
        prof["step"]["draft"] = _clean(dstep)
        prof["acceptance"] = {"temperature": world.temperature, "alpha": [round(a, 4) for a in alpha]}
    path = out_dir / "profile.json"
    Profile.from_dict(prof, origin=str(path))
    atomic_write_json(path, prof)
    log(f"calibrated {len(probs)} problems x {samples} samples: pass@1 {sum(acc) / len(acc):.1%}, "
        f"step fit error {step.fit_rel_error:.1%}, acceptance {[round(a, 2) for a in alpha]}")
    return path
