"""Turn endpoint measurements into a profile's parts (planner.profile.assemble builds and validates them):
fitted step and prefill coefficients, the length distribution, acceptance per draft position, and provenance
naming the engine, its version and launch.

Choices that a reader of the profile should know (also written into `calibration.notes`):
- hardware peaks are not observable through an API, so `hardware.mem_bw_GBps`/`bf16_tflops` hold the
  *effective* values fitted here;
- the drafter is recorded by its real kind (draft model, n-gram, EAGLE, EAGLE-3, MTP, from the launch arguments
  or the server's /server_info: server_draft.py) with the measured acceptance; its own cost is inside the
  measured step (server-wide speculation), so it is marked `draft.cost = in_step` and not priced again;
- accuracy is not measured by timing runs: a neutral parametric placeholder is written unless a sample bank
  is given (`accuracy_bank`)."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

from planner.calibrate.endpoint import server_draft
from planner.calibrate.endpoint.metrics import SpecCounters, conditional_acceptance
from planner.calibrate.endpoint.sharing import check_ttft, prefill_sharing
from planner.calibrate.endpoint.probe import (SGLANG_ACCEPT, local_config, sglang_draft_steps, speculative_from_args,
                                              tensor_parallel_from_args)
from planner.calibrate.fit import fit_prefill_pooled, fit_step_pooled, step_predictions
from planner.calibrate.settings import EndpointRun
from planner.errors import PlannerError
from planner.profile.assemble import ProfileParts
from planner.profile.hf_config import arch_from_hf_config


MIN_DRAFTS = 20  # below this the per-position rates are mostly noise (Wilson interval wider than ~0.4)


def _lengths(raw: dict) -> dict:
    from planner.calibrate.lengths import between_share

    toks = sorted(int(t) for t in raw["lengths"]["tokens"])
    rho = between_share(raw["lengths"].get("groups") or [])
    if len(set(toks)) >= 2:
        return {"kind": "empirical", "tokens": toks, **({"between_share": rho} if rho is not None else {})}
    v = max(1, toks[0])
    return {"kind": "lognormal", "median_tokens": v, "sigma": 0.05, "min_tokens": v, "max_tokens": v}


def geometric_alpha(tau: float, k: int) -> float:
    """The per-position acceptance a, equal at every position, with 1 + a + a^2 + ... + a^K = tau."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sum(mid ** i for i in range(k + 1)) < tau else (lo, mid)
    return 0.5 * (lo + hi)


def _sglang_acceptance(info, raw: dict, temperature: float, launch, notes: list[str]):
    """SGLang exports only a gauge of the mean accept length tau; with the draft depth K from the launch
    arguments, alpha is taken equal at every position (the only shape one mean can pin down)."""
    rows = (raw.get("spec_after") or {}).get(SGLANG_ACCEPT) or []
    vals = [v for lab, v in rows if lab.get("model_name", info.model) == info.model] or [v for _, v in rows]
    if not vals:
        return None, None
    tau = sum(vals) / len(vals)
    k = sglang_draft_steps(launch) or (info.drafter or {}).get("k")  # launch args, else GET /server_info
    counts = {"mean_accept_length": round(tau, 4), "source": SGLANG_ACCEPT, "positions": k}
    if k is None or tau < 1.0:
        notes.append(f"acceptance unmeasured: SGLang reports a mean accept length of {tau:.2f} but "
                     + ("not the draft depth (pass --launch-args with --speculative-num-steps)" if k is None else
                        "no verify round has run yet"))
        return None, counts
    a = geometric_alpha(min(tau, k + 1.0), k)
    notes.append(f"acceptance from SGLang's mean accept length {tau:.2f} at K={k}: alpha {a:.3f} at every "
                 "position (SGLang does not export per-position counts)")
    return {"temperature": temperature, "alpha": [round(a, 4)] * k}, counts


def _acceptance(info, raw: dict, temperature: float, notes: list[str], launch=None) -> tuple[dict | None, dict | None]:
    """(acceptance section, raw counter deltas) from the length phase (plan sampling on real prompts).

    `draft_rate` = drafts / decode steps: model-free drafters (n-gram) propose only when the context
    recurs, so most steps may carry no draft at all. The alphas are conditional on a draft existing."""
    if info.spec_positions == 0:
        return _sglang_acceptance(info, raw, temperature, launch, notes) if info.engine == "sglang" else (None, None)
    b, a = raw.get("spec_before"), raw.get("spec_after")
    if b is None or a is None:
        notes.append("acceptance unmeasured: /metrics could not be read around the length runs")
        return None, None
    cb = SpecCounters.from_samples(b, info.model) or SpecCounters.from_samples(b)
    ca = SpecCounters.from_samples(a, info.model) or SpecCounters.from_samples(a)
    delta = ca - cb if cb and ca else SpecCounters()
    toks = raw["lengths"]["tokens"]
    steps = max(1.0, sum(toks) - len(toks) - delta.accepted)  # a branch's first token comes from prefill
    counts = {"drafts": delta.drafts, "draft_tokens": delta.draft_tokens, "accepted": delta.accepted,
              "decode_steps": steps, "draft_rate": round(min(1.0, delta.drafts / steps), 4),
              "positions": info.spec_positions}
    acc = conditional_acceptance(delta)
    if acc is None or delta.drafts < MIN_DRAFTS:
        if steps >= 10 * MIN_DRAFTS and delta.drafts < 0.05 * steps:
            # Drafting itself is rare, and that is measured: rounds are then plain decode steps whatever alpha
            # is, so model them at the measured rate with no gain (alpha 0) rather than as full K+1 verifies.
            notes.append(f"acceptance per position unmeasured: the server proposed {delta.drafts:.0f} drafts in "
                         f"{steps:.0f} decode steps ({counts['draft_rate']:.1%}); modelled as that draft rate "
                         "with alpha 0 (speculation neither costs nor gains much here)")
            return {"temperature": temperature, "alpha": [0.0], "draft_rate": counts["draft_rate"]}, counts
        notes.append(f"acceptance unmeasured: the server proposed {delta.drafts:.0f} drafts on the calibration "
                     f"prompts (fewer than {MIN_DRAFTS})")
        return None, counts
    counts["mean_accept_length"] = acc["mean_accept_length"]
    if counts["draft_rate"] < 0.5:
        notes.append(f"only {counts['draft_rate']:.0%} of decode steps carried a draft (n-gram lookups found no "
                     "match); the latency model blends plain and speculative rounds at that rate")
    return {"temperature": temperature, "alpha": [round(x, 4) for x in acc["alpha"]],
            "ci_low": [round(x, 4) for x in acc["ci_low"]], "ci_high": [round(x, 4) for x in acc["ci_high"]],
            "draft_rate": counts["draft_rate"]}, counts


def endpoint_parts(run: EndpointRun, info, raw: dict, grid, host: str) -> ProfileParts:
    """The profile's parts from the endpoint's raw measurements (validated by the one assembler)."""
    notes = list(info.notes) + list(raw["lengths"].get("notes", []))
    launch = run.launch_args
    tp = tensor_parallel_from_args(launch)
    arch = arch_from_hf_config(local_config(info, run.model_config), name=info.model)
    points = raw["decode_points"]
    step = fit_step_pooled(points, arch, tp=tp)
    if not math.isfinite(step.t0_s):
        raise PlannerError("endpoint calibration: step fit did not converge")
    for p, pred in zip(points, step_predictions(points, step, arch, tp=tp)):
        p["predicted_s"] = round(pred, 6)
        p["t_s"] = round(p["t_s"], 6)
    prefill = fit_prefill_pooled(raw["prefill_points"])
    sharing = prefill_sharing(info.engine, info.cache, launch, notes)
    check_ttft(points, prefill.t0_s, prefill.s_per_token, sharing, notes)
    if info.root and (info.root.startswith("/") or info.root.count("/") == 1):
        arch = replace(arch, hf_id=info.root)  # what the server loaded (a folder or a hub id): loadable again
    spec_cfg = speculative_from_args(launch)
    acceptance, counts = _acceptance(info, raw, run.temperature, notes, launch)
    draft = {"kind": "none"}
    if acceptance is not None:
        k = info.spec_positions or len(acceptance["alpha"])
        draft = server_draft.draft_section(info.drafter, k, notes)
    notes.append("hardware.mem_bw_GBps and bf16_tflops are the fitted effective weight bandwidth and FLOP/s (an "
                 "API does not expose the device): lower bounds of its peaks")
    prompt_tokens = [p for p in raw["lengths"]["prompt_tokens"] if p > 0]
    trunc = raw["lengths"]["truncated"] / max(1, len(raw["lengths"]["tokens"]))
    if trunc > 0.2:
        notes.append(f"{trunc:.0%} of calibration branches hit max_tokens={raw['lengths']['max_tokens']}: the "
                     "length distribution is truncated there")
    accuracy = ({"kind": "bank", "path": run.accuracy_bank, "format": "tts-bank"} if run.accuracy_bank else
                {"kind": "parametric", "beta_a": 1.0, "beta_b": 1.0, "wrong_mode_share": 0.5,
                 "source": "placeholder: endpoint calibration measures latency only; give a sample bank"})
    kv_bytes = float(info.cache.get("kv_cache_memory_bytes") or 0) if info.cache.get(
        "kv_cache_memory_bytes", "None") != "None" else 0.0
    memory_gb = float(run.memory_gb or max(0.001, (arch.weight_bytes / tp + kv_bytes) / 1e9))
    hw_name = run.hardware or f"{info.engine} endpoint {host}"
    engine = {"name": info.engine, "version": info.version, "endpoint": info.base, "served_model": info.model,
              "model_root": info.root, "max_model_len": info.max_model_len,
              "launch_args": launch or "not given (pass --launch-args; the API does not report them)",
              "speculative_config": spec_cfg, "drafter": info.drafter, "cache_config": {k: info.cache[k] for k in (
                  "block_size", "enable_prefix_caching", "kv_cache_memory_bytes", "num_gpu_blocks") if k in info.cache}}
    return ProfileParts(
        id=run.id or f"{info.model}@{info.engine}-{host}",
        description=f"{info.model} measured through {info.engine} {info.version or ''} at {info.base}"
                    f"{' (quick)' if run.quick else ''}".replace("  ", " "),
        provenance={"kind": "measured", "method": "endpoint", "device": hw_name, "engine": engine,
                    "dtype": f"{arch.dtype_bytes:g} bytes/param (config)", "quick": run.quick, "notes": notes},
        hardware={"name": hw_name, "mem_bw_GBps": step.weight_bw_GBps, "bf16_tflops": step.tflops,
                  "memory_GB": round(memory_gb, 3), "gpus": max(tp, int(run.gpus or 1)), "tensor_parallel": tp},
        model=arch, target=step, prefill=prefill, draft=draft, acceptance=acceptance, lengths=_lengths(raw),
        accuracy=accuracy, prompt_tokens=int(statistics.median(prompt_tokens)) if prompt_tokens else 64,
        temperature=run.temperature, top_p=run.top_p, serving={"prefill_sharing": sharing},
        calibration={"decode_points": points, "prefill_points": raw["prefill_points"],
                     "lengths": {"n": len(raw["lengths"]["tokens"]), "truncated": raw["lengths"]["truncated"],
                                 "max_tokens": raw["lengths"]["max_tokens"], "api": raw["lengths"]["api"]},
                     "acceptance_counts": counts, "phases_s": raw["phases_s"], "settings": grid.__dict__,
                     "notes": notes})
