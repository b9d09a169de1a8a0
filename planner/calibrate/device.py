"""`planner calibrate --model M [--draft D]` on this machine: every phase, then one validated profile.

Phases (each with its budget from planner.calibrate.settings): load the model(s) with the engine's loader →
bandwidth and GEMM microbenchmarks → target step-time sweep → draft sweep (draft models only) → prefill →
generation (acceptance per position, lengths, optional graded sample bank) → fits → profile dict.

The per-round cost of the decode loop beyond the forward (sampling, acceptance, bookkeeping, n-gram lookup)
is measured on the generation rounds as the median of (round wall time − draft time − fitted forward time)
and added to the target's t0, because the latency model charges t0 once per round."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace


from planner.calibrate import hardware
from planner.calibrate.acceptance import acceptance_from_counts, draft_rate
from planner.calibrate.engine_timer import EngineTimer
from planner.calibrate.fit import fit_prefill, fit_step
from planner.calibrate.generation import length_budget_note, run_generations
from planner.calibrate.lengths import length_section
from planner.calibrate.overheads import draft_overhead, loop_overhead, verify_overhead
from planner.calibrate.points import StepPoint
from planner.calibrate.model_arch import arch_from_model
from planner.calibrate.output import Measured
from planner.calibrate.progress import Progress
from planner.calibrate.settings import DeviceRun, Settings
from planner.calibrate.repeats import LoadMeter, rescale
from planner.calibrate.sweep import SweepResult, sweep
from planner.errors import PlannerError
from planner.profile.assemble import ProfileParts, placeholder_accuracy

MEM_FRACTION = 0.5  # share of free memory a sweep cache may take (others share the machine)


def _mem_limit(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free * 0.8
    return hardware.cpu_available_bytes() * MEM_FRACTION


def load(run: DeviceRun, progress: Progress):
    from planner.engine.models import load_model, make_drafter

    progress.start_phase(f"loading {run.model} ({run.dtype}, {run.device})")
    lm = load_model(run.model, run.device, run.dtype)
    drafter = make_drafter(run.draft, lm) if run.draft not in (None, "none") else None
    return lm, drafter


def measure_device(run: DeviceRun, s: Settings, progress: Progress, keep: dict | None = None) -> Measured:
    """Measure everything; the profile's parts and, with `run.accuracy`, its sample bank. `keep` receives
    each phase's raw measurements as they are taken, so a failing fit (or Ctrl-C) cannot lose them."""
    import torch

    from planner.engine.decode import Engine
    from planner.executor.datasets import load_problems

    problems = load_problems(run.prompts or "math500", max(s.gen_prompts, s.acc_prompts))  # bad --prompts fails before measuring
    if run.threads:
        torch.set_num_threads(run.threads)
    phases: dict[str, float] = {}
    t = time.monotonic()
    lm, drafter = load(run, progress)
    phases["load"] = time.monotonic() - t
    dev, dtype = lm.device, lm.dtype
    target_arch = arch_from_model(lm.model, run.model, dtype, getattr(lm.model.config, "_name_or_path", None))
    draft_model = getattr(drafter, "model", None) if drafter is not None and drafter.uses_model else None
    draft_arch = arch_from_model(draft_model, drafter.name, dtype) if draft_model is not None else None

    t = time.monotonic()
    progress.start_phase("memory bandwidth and GEMM microbenchmarks")
    clock = run.clock
    bw = hardware.measure_bandwidth(dev, s.bandwidth_MB, clock=clock)
    gemm = hardware.measure_gemm(dev, dtype, clock=clock)
    info = hardware.device_info(dev)
    phases["microbench"] = time.monotonic() - t
    keep = {} if keep is None else keep
    keep.update(device=info, bandwidth=bw, gemm=gemm, phases_s=phases)
    progress.say(f"bandwidth read {bw['read_GBps']} GB/s, copy {bw['copy_GBps']} GB/s; GEMM {gemm['tflops']} "
                 f"TFLOP/s ({dtype})", force=True)

    t = time.monotonic()
    progress.start_phase("target step-time sweep")
    timer = EngineTimer(lm.model, dev, target_arch.kv_bytes_per_token, clock=clock)
    timer.warmup(1.0 if s.name == "quick" else 3.0)
    # Opt-in drift correction (CPU time needs none): on a quiet machine the reference forward's own noise
    # (+-30 % on this VM) made held-out errors worse than raw times in bench/fidelity.py.
    meter = LoadMeter(timer) if clock == "wall" and run.load_meter else None
    sw = sweep(timer, "target", s.batches, s.queries, s.contexts, repeats=s.repeats, passes=s.passes,
               max_step_s=s.max_step_s, budget_s=s.sweep_budget_s, mem_limit_bytes=_mem_limit(dev),
               progress=progress, meter=meter)
    phases["target_sweep"] = time.monotonic() - t
    keep["target_points"] = [p.to_dict() for p in sw.raw_points or sw.points]
    _say_if_cut(progress, "target", sw, s.sweep_budget_s)
    prefill_pts = [StepPoint("prefill", 1, L, 0, x) for L, ts in timer.prefill_s.items() if L > 0 for x in ts]
    timer.release()

    dsw = SweepResult()
    if draft_model is not None:
        t = time.monotonic()
        progress.start_phase("draft step-time sweep")
        dtimer = EngineTimer(draft_model, dev, draft_arch.kv_bytes_per_token, seed=1, clock=clock)
        dtimer.warmup(0.5)
        dsw = sweep(dtimer, "draft", s.draft_batches, s.draft_queries, s.contexts, repeats=s.repeats,
                    passes=s.passes, max_step_s=s.max_step_s, budget_s=s.draft_budget_s,
                    mem_limit_bytes=_mem_limit(dev), progress=progress, meter=meter)
        dtimer.release()
        phases["draft_sweep"] = time.monotonic() - t
        keep["draft_points"] = [p.to_dict() for p in dsw.raw_points or dsw.points]
        _say_if_cut(progress, "draft", dsw, s.draft_budget_s)

    t = time.monotonic()
    progress.start_phase("prefill")
    for n in s.prefill_lengths:  # ascending; longer prompts are skipped once the phase budget is spent
        if time.monotonic() - t > s.prefill_budget_s and len(prefill_pts) >= 2:
            break
        prefill_pts += [StepPoint("prefill", 1, n, 0, x) for x in timer.time_prefill(n, s.prefill_repeats)]
    phases["prefill"] = time.monotonic() - t
    keep["prefill_points"] = [p.to_dict() for p in prefill_pts]

    engine = Engine(lm.model, lm.tokenizer, drafter, dev)
    K = s.draft_len if drafter is not None else 0
    acc_gen = None
    if drafter is not None:
        # Acceptance needs K drafts per round, but long K rounds are slow: a short capped pass measures it.
        t = time.monotonic()
        progress.start_phase(f"acceptance: {s.acc_prompts} prompts x {s.gen_branches} branches, K={K}, "
                             f"T={run.temperature}, {s.acc_max_tokens} tokens")
        acc_gen = run_generations(engine, problems[:s.acc_prompts], s.gen_branches, K, run.temperature,
                                  run.top_p, s.acc_max_tokens, s.acc_budget_s, seed=run.seed + 1,
                                  progress=progress, meter=meter)
        phases["acceptance"] = time.monotonic() - t
        keep["acceptance"] = {"draft_len": K, "accepted": acc_gen.accepted, "reached": acc_gen.reached}
    # Lengths (and the bank) without speculation: lossless drafting would not change them, only cost time here.
    t = time.monotonic()
    progress.start_phase(f"lengths: {len(problems)} prompts x {s.gen_branches} branches, T={run.temperature}, "
                         f"up to {s.gen_max_tokens} tokens")
    gen = run_generations(engine, problems, s.gen_branches, 0, run.temperature, run.top_p, s.gen_max_tokens,
                          s.gen_budget_s, grade=run.accuracy, seed=run.seed, progress=progress, meter=meter,
                          min_finished=s.gen_branches)   # a loaded machine overruns the budget, not ends empty
    phases["lengths"] = time.monotonic() - t
    keep.update(lengths={"max_new_tokens": s.gen_max_tokens, "tokens": gen.tokens}, rounds=gen.rounds)
    overrun = length_budget_note(gen, s.gen_budget_s)   # raises when no branch finished even past the budget
    if overrun:
        progress.say(overrun, force=True)

    level = meter.level() if meter else None  # the run's typical load: every phase is expressed at it
    tpoints = rescale(sw.points, sw.level, level)
    dpoints = rescale(dsw.points, dsw.level, level)
    priors = {"weight_bw_GBps": bw["read_GBps"], "tflops": gemm["tflops"]}
    tfit = fit_step(tpoints, target_arch, run.tp, priors=priors)
    dfit = fit_step(dpoints, draft_arch, run.tp, priors=priors) if draft_model is not None else None
    pre, pre_err = fit_prefill(prefill_pts)
    overhead, n_rounds = loop_overhead(gen.rounds, tfit.coeffs, target_arch, run.tp, level, clock)
    tcoeffs = replace(tfit.coeffs, t0_s=tfit.coeffs.t0_s + overhead)
    verify, n_verify = 0.0, 0
    if acc_gen is not None:  # verify rounds' own extra work, on top of the loop overhead every round pays
        verify, n_verify = verify_overhead(acc_gen.rounds, tcoeffs, target_arch, run.tp, level, clock, overhead)
        tcoeffs = replace(tcoeffs, verify_s=verify or None)
    dcoeffs, d_over = (dfit.coeffs, 0.0) if dfit else (None, 0.0)
    if dfit is not None and acc_gen is not None:  # sampling between draft forwards, beyond the forwards
        d_over = draft_overhead(acc_gen.rounds, dfit.coeffs, draft_arch, run.tp, clock)
        dcoeffs = replace(dfit.coeffs, t0_s=dfit.coeffs.t0_s + d_over)
    lengths, len_rec = length_section(gen.tokens, s.gen_max_tokens, gen.groups)
    notes = [f"measured on {info['name']} ({info.get('cores', info.get('gpus'))} "
             f"{'cores' if not dev.startswith('cuda') else 'GPUs'}), {torch.get_num_threads()} threads, {dtype}",
             f"settings: {s.name}; phases (s): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items())]
    drift = meter.drift() if meter else {"min_ratio": 1.0, "max_ratio": 1.0}
    if clock == "cpu":
        notes.append("times are CPU time of the single compute thread (--clock cpu): the wall time of an idle "
                     f"machine of this class; the machine was shared (CPU/wall over generation "
                     f"{sum(gen.cpu_s) / max(gen.seconds, 1e-9):.2f} during the length phase)")
    if drift["max_ratio"] / drift["min_ratio"] > 1.2:
        notes.append(f"load drift: a reference forward took {drift['min_ratio']:.2f}x to {drift['max_ratio']:.2f}x "
                     "its median during the run (other processes); step times are normalised to the median load")
    if sw.cut_by_budget or dsw.cut_by_budget:
        notes.append("a sweep was cut by its time budget: larger batches were not measured")
    notes += [overrun] if overrun else []
    if len_rec["share_at_cap"] > 0.25:
        notes.append(f"{len_rec['share_at_cap']:.0%} of branches hit max_new_tokens={s.gen_max_tokens}: the "
                     "length distribution is censored (lengths beyond the cap are underestimated)")
    prov = {"kind": "measured", "method": "device", "device": info["name"], "threads": torch.get_num_threads(),
            "dtype": dtype, "clock": clock, "device_type": "cuda" if dev.startswith("cuda") else "cpu",
            "cpu": info["cpu"], "platform": info["platform"], "model": run.model, "model_source": lm.source,
            "draft": run.draft or "none", "command": run.command_line, "notes": notes}
    prov.update({k: info[k] for k in ("cuda", "driver") if info.get(k)})
    parts = ProfileParts(
        id=run.id, description=run.description or f"{run.model} on {info['name']}, measured by planner calibrate "
                                                    f"({s.name})",
        provenance=prov,
        hardware={"name": info["name"], "mem_bw_GBps": bw["read_GBps"], "bf16_tflops": gemm["tflops"],
                  "memory_GB": info["memory_GB"], "gpus": max(run.tp, 1), "tensor_parallel": run.tp},
        model=target_arch, target=tcoeffs, prefill=pre, lengths=lengths, accuracy=placeholder_accuracy(),
        prompt_tokens=int(statistics.median(gen.prompt_tokens)), temperature=run.temperature, top_p=run.top_p)
    if drafter is not None:
        parts.draft = {"kind": "model" if draft_model is not None else "ngram", "name": drafter.name}
        if draft_model is not None:
            parts.draft_arch, parts.draft_step = draft_arch, dcoeffs
        parts.acceptance = acceptance_from_counts(acc_gen.accepted, acc_gen.reached, run.temperature)
        if getattr(drafter, "name", "") == "ngram":  # a lookup may find nothing for any row: that round is a plain decode step
            parts.acceptance["draft_rate"] = draft_rate(acc_gen.rounds)
    cal = parts.calibration = {
        "settings": s.name, "phases_s": {k: round(v, 1) for k, v in phases.items()},
        "bandwidth": bw, "gemm": gemm,
        "points": [p.to_dict() for p in tpoints + dpoints + prefill_pts],
        "raw_points": [p.to_dict() for p in sw.raw_points + dsw.raw_points],
        "load_drift": meter.drift() if meter else None, "clock": clock,
        "spreads": sw.spreads + dsw.spreads, "rejected_repeats": sw.rejected + dsw.rejected,
        "caps": {**sw.caps, **dsw.caps}, "cut_by_budget": sw.cut_by_budget or dsw.cut_by_budget,
        "passes": {"target": sw.passes, **({"draft": dsw.passes} if draft_model is not None else {})},
        "fit": {"target": tfit.to_dict(), **({"draft": dfit.to_dict()} if dfit else {}),
                "prefill": {"median_rel_error": round(pre_err, 5), "n_points": len(prefill_pts)},
                "priors": priors},
        "loop_overhead_s": round(overhead, 6), "loop_overhead_rounds": n_rounds,
        "verify_overhead_s": round(verify, 6), "verify_overhead_rounds": n_verify,
        **({"draft_overhead_s": round(d_over, 6)} if dfit is not None else {}),
        "lengths": len_rec, "generation": {"problems": gen.problems, "branches": s.gen_branches,
                                           "max_new_tokens": s.gen_max_tokens, "cut_by_budget": gen.cut,
                                           "seconds": round(gen.seconds, 1)},
    }
    if acc_gen is not None:
        cal["acceptance"] = {
            "problems": acc_gen.problems, "branches": s.gen_branches, "draft_len": K,
            "max_new_tokens": s.acc_max_tokens, "seconds": round(acc_gen.seconds, 1),
            "by_batch": {k: {"accepted": a, "reached": r, "alpha_1": round(a / r, 4) if r else None}
                         for k, (a, r) in sorted(acc_gen.by_batch.items(), key=lambda kv: int(kv[0].split("-")[0]))},
    }
    if run.accuracy and gen.bank:
        per = [x["correct"] for line in gen.bank for x in line["samples"]]
        cal["accuracy"] = {"problems": len(gen.bank), "samples": len(per), "pass1": round(sum(per) / len(per), 4)}
    return Measured(parts, gen.bank if run.accuracy else None)


def keep_raw(output, raw: dict) -> str:
    """Write the raw measurements of a failed calibration to OUTPUT.partial.json; ' (... saved to PATH)', or
    '' when there is nothing to keep or it cannot be written (the original error matters more)."""
    from pathlib import Path

    from planner.io import atomic_write_json

    if not output or not any(k.endswith("_points") for k in raw):
        return ""
    path = Path(str(output) + ".partial.json")
    try:
        atomic_write_json(path, {"schema": "tts-device-partial/1", **raw})
    except (OSError, PlannerError, TypeError, ValueError):
        return ""
    return f" (raw measurements saved to {path})"


def _say_if_cut(progress: Progress, role: str, sw: SweepResult, budget_s: float) -> None:
    """A sweep cut by its budget did not measure the larger batches: say so while it runs, not only in the file."""
    if sw.cut_by_budget:
        progress.say(f"{role} sweep cut short by its {budget_s:.0f} s budget after {len(sw.points)} points: larger "
                     "batches were not measured (raise --max-seconds or use a quieter machine)", force=True)
