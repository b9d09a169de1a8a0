"""Derived (datasheet + published numbers) profiles: GPU preset x model preset (or a HF config.json).

`python -m planner.profile.derive --out profiles/` regenerates the shipped `profiles/*.json`, so every
number in them traces back to `planner/profile/presets.py` and its sources."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from planner.errors import PlannerError
from planner.profile import presets as P
from planner.profile.assemble import ProfileParts, assemble
from planner.profile.schema import ModelArch
from planner.profile.writer import write_profile

MAJ_N_ASSUMED = 64      # vote count assumed for the 'Major.' column of 2502.06703 Table 5 (not stated there)
WRONG_MODE_SHARE = 0.5  # share of wrong answers that agree on one recurring wrong answer (assumption)
DEFAULT_MODELS = ("qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b")
ALLREDUCE_S = {"nvlink": 5e-6, "pcie": 15e-6}  # per-layer all-reduce latency (assumption)


def _eff(key: str) -> float:
    return float(P.EFFICIENCY[key]["value"])


def tp_degree(weight_bytes: float, memory_GB: float) -> int:
    """Smallest power-of-two TP degree whose per-device weights leave >= 30 % of memory for the KV cache."""
    tp = 1
    while weight_bytes / tp > 0.7 * memory_GB * 1e9 and tp < 8:
        tp *= 2
    return tp


def _step(gpu: dict, tp: int) -> dict:
    link = "nvlink" if gpu.get("interconnect_GBps", 0) >= 100 else "pcie"
    return {"t0_s": P.EFFICIENCY["t0_s"]["cuda_graphs"], "weight_bw_GBps": gpu["mem_bw_GBps"] * _eff("weight_bw"),
            "kv_bw_GBps": gpu["mem_bw_GBps"] * _eff("kv_bw"), "tflops": gpu["bf16_tflops"] * _eff("flops"),
            "allreduce_s": ALLREDUCE_S[link] if tp > 1 else 0.0, "roofline_p": _spec("roofline_p")}


def _spec(key: str) -> float:
    return float(P.SPECULATION[key]["value"])


def derive_profile(gpu_key: str, model: str | ModelArch, accuracy_like: str | None = None) -> dict:
    """Profile JSON for `model` (preset key or an architecture) on GPU preset `gpu_key`."""
    if gpu_key not in P.GPUS:
        raise PlannerError(f"unknown GPU preset {gpu_key!r}; choose from {', '.join(P.GPUS)}")
    gpu = P.GPUS[gpu_key]
    if isinstance(model, str):
        if model not in P.MODELS:
            raise PlannerError(f"unknown model preset {model!r}; choose from {', '.join(P.MODELS)}")
        key, arch = model, ModelArch(**P.model_arch_fields(model))
    else:
        arch = model
        key = accuracy_like or min(DEFAULT_MODELS, key=lambda m: abs(math.log(P.MODELS[m]["params"] / arch.params)))
    tp = tp_degree(arch.weight_bytes, gpu["memory_GB"])
    draft_key = P.DRAFT_FOR.get(key, "qwen2.5-0.5b")
    draft = ModelArch(**P.model_arch_fields(draft_key))
    acc = P.ACCURACY[key]
    from planner.accuracy.parametric import fit_beta

    fit = fit_beta(acc["pass1"], {MAJ_N_ASSUMED: acc["maj_at_budget"]["acc"]}, WRONG_MODE_SHARE)
    lengths = {k: v for k, v in P.LENGTHS[key].items() if k in ("kind", "median_tokens", "sigma", "min_tokens",
                                                                 "max_tokens", "between_share")}
    accept = P.ACCEPTANCE[key]
    sources = [
        {"what": f"{gpu['name']}: memory bandwidth, dense bf16, memory, link", "value":
            f"{gpu['mem_bw_GBps']} GB/s, {gpu['bf16_tflops']} TFLOP/s, {gpu['memory_GB']} GB, "
            f"{gpu.get('interconnect_GBps')} GB/s", "source": gpu["sources"][0]},
        {"what": "efficiencies (weight bw, KV bw, FLOP/s, per-step overhead with CUDA graphs)", "value":
            f"{_eff('weight_bw')}, {_eff('kv_bw')}, {_eff('flops')}, {P.EFFICIENCY['t0_s']['cuda_graphs']} s",
         "source": "assumption, see docs/sources.md (EFFICIENCY)"},
        {"what": f"{arch.name} architecture", "value": f"{arch.params / 1e9:.2f} B params",
         "source": P.MODELS[key]["sources"][0] if isinstance(model, str) else "user-supplied config.json"},
        {"what": f"{key} MATH-500 pass@1 and majority accuracy", "value":
            f"{acc['pass1']} / {acc['maj_at_budget']['acc']} (majority assumed at N={MAJ_N_ASSUMED})",
         "source": acc["sources"][0]},
        {"what": "Beta fit of per-problem accuracy", "value":
            f"a={fit.a:.3f} b={fit.b:.3f} rho={fit.rho} residuals {fit.residuals}", "source": "planner fit_beta"},
        {"what": f"acceptance of {draft_key} draft per position", "value": str(accept["alpha"]),
         "source": "assumption: " + accept["reason"][:160]},
        {"what": "generation length (log-normal)", "value":
            f"median {lengths['median_tokens']} tokens, sigma {lengths['sigma']}, between-problem share "
            f"{lengths['between_share']}",
         "source": "assumption: " + P.LENGTHS[key]["reason"][:160]},
    ]
    prefill_flops = gpu["bf16_tflops"] * 1e12 * _eff("prefill_flops") * tp
    pid = f"{gpu_key}-{key}" if isinstance(model, str) else f"{gpu_key}-{arch.name.split('/')[-1].lower()}"
    return assemble(ProfileParts(
        id=pid, description=f"{arch.name} on {tp}x {gpu['name']} (TP {tp}), {draft.name} draft. Derived from "
                            "datasheet and published numbers, not measured.",
        provenance={"kind": "derived", "sources": sources,
                    "notes": "derived, not measured: run `planner calibrate` on your device"},
        hardware={"name": gpu["name"], "mem_bw_GBps": gpu["mem_bw_GBps"], "bf16_tflops": gpu["bf16_tflops"],
                  "memory_GB": gpu["memory_GB"], "gpus": tp, "tensor_parallel": tp,
                  "interconnect_GBps": gpu.get("interconnect_GBps")},
        model=arch,
        # derived coefficients are written unrounded (dict sections pass through the assembler as given)
        target={**_step(gpu, tp), "verify_s": _spec("verify_s")},
        draft_step={**_step(gpu, tp), "t0_s": _spec("draft_t0_s")},
        prefill={"t0_s": P.EFFICIENCY["prefill_t0_s"]["value"], "s_per_token": 2 * arch.params / prefill_flops},
        draft={"kind": "model", "name": draft.name}, draft_arch=draft,
        acceptance={"temperature": accept["temperature"], "alpha": accept["alpha"]},
        lengths=lengths,
        accuracy={"kind": "parametric", "beta_a": round(fit.a, 4), "beta_b": round(fit.b, 4),
                  "wrong_mode_share": WRONG_MODE_SHARE, "dataset": acc["dataset"],
                  "source": f"fit to {acc['sources'][0]} (pass@1 {acc['pass1']}, majority "
                            f"{acc['maj_at_budget']['acc']} assumed at N={MAJ_N_ASSUMED})"},
        prompt_tokens=200, temperature=0.7, top_p=1.0), origin=pid)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="write the derived profiles (GPU presets x Qwen2.5 presets)")
    ap.add_argument("--out", default="profiles")
    args = ap.parse_args(argv)
    out = Path(args.out)
    for g in P.GPUS:
        for m in DEFAULT_MODELS:
            d = derive_profile(g, m)  # validated by the assembler, and again by the writer
            write_profile(d, out / f"{d['id']}.json")
    print(f"wrote {len(P.GPUS) * len(DEFAULT_MODELS)} profiles to {out}/")


if __name__ == "__main__":
    main()
