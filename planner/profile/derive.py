"""Derived (datasheet + published numbers) profiles: GPU preset x model preset (or a HF config.json).

`python -m planner.profile.derive --out profiles/` regenerates the shipped `profiles/*.json`, so every
number in them traces back to `planner/profile/presets.py` and its sources."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.errors import PlannerError
from planner.profile import deploy as D
from planner.profile import presets as P
from planner.profile import quant
from planner.profile.assemble import ProfileParts, assemble
from planner.profile.drafter import choose as choose_drafter
from planner.profile.schema import ModelArch
from planner.profile.writer import write_profile

DEFAULT_MODELS = ("qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b")
SHIPPED_GPUS = ("h100-sxm", "h200", "h800", "a100-80gb", "l40s", "rtx4090")  # profiles/ holds these x DEFAULT_MODELS
TEMPERATURE = 0.7  # the derived profiles' sampling temperature (their acceptance is stated at it)
ALLREDUCE_S = {"nvlink": 5e-6, "pcie": 15e-6}  # per-layer all-reduce latency (assumption; Infinity Fabric: nvlink)


def _eff(key: str) -> float:
    return float(P.EFFICIENCY[key]["value"])


def _step(gpu: dict, tp: int, path: str = "bf16") -> dict:
    """Datasheet x efficiency step coefficients; FLOP/s of the tensor-core path the weights run on."""
    link = "nvlink" if gpu.get("interconnect_GBps", 0) >= 100 else "pcie"
    tflops = quant.peak_tflops(gpu, path, f"{path} weights")
    return {"t0_s": P.EFFICIENCY["t0_s"]["cuda_graphs"], "weight_bw_GBps": gpu["mem_bw_GBps"] * _eff("weight_bw"),
            "kv_bw_GBps": gpu["mem_bw_GBps"] * _eff("kv_bw"), "tflops": tflops * _eff("flops"),
            "allreduce_s": ALLREDUCE_S[link] if tp > 1 else 0.0, "roofline_p": _spec("roofline_p")}


def _spec(key: str) -> float:
    return float(P.SPECULATION[key]["value"])


def derive_profile(gpu_key: str, model: str | ModelArch, *, tp: int | None = None, weight_dtype: str | None = None,
                   kv_dtype: str | None = None, accuracy: str | None = None, bank: str | None = None,
                   draft_like: str | None = None, draft: str | None = None, draft_config: str | None = None,
                   acceptance: str | None = None, target_raw: dict | None = None) -> dict:
    """Profile JSON for `model` (preset key or an architecture) on GPU preset `gpu_key`. `tp` None picks the
    smallest degree that fits; formats override the preset's / config's; the accuracy is the user's
    (`accuracy` 'pass1=P,maj=A@N' or a `bank` file), else the model's own published figures, else none
    (latency-only): a model is never given another model's numbers (planner/profile/deploy.py). `draft_like`
    borrows a preset's drafter and acceptance for latency studies that replace them (bench/spec_published.py).
    `draft` / `draft_config` / `acceptance` are the --draft, --draft-config and --acceptance flags
    (planner/profile/drafter.py); `target_raw` the target's config.json (token ids, MTP layers)."""
    gpu = D.gpu_preset(gpu_key)
    if isinstance(model, str):
        if model not in P.MODELS:
            raise PlannerError(f"unknown model preset {model!r}; choose from {', '.join(P.MODELS)}")
        key, arch = model, D.with_formats(ModelArch(**P.model_arch_fields(model)), weight_dtype, kv_dtype,
                                          float(P.linear_params(model)))
    else:
        key, arch = _preset_of(model), D.with_formats(model, weight_dtype, kv_dtype)
    path = D.compute_path(arch)
    quant.peak_tflops(gpu, path, f"--weight-dtype {arch.weight_dtype}")  # refuse fp8 on A100 before anything else
    tp = D.auto_tp(arch, gpu) if tp is None else D.check_tp(arch, tp, gpu)
    # a draft only where its acceptance on this target is known: the flags', else the preset's (Qwen2.5 family)
    dc = choose_drafter(key, arch, TEMPERATURE, draft=draft, draft_config=draft_config, acceptance=acceptance,
                        target_raw=target_raw, draft_like=draft_like)
    acc = D.accuracy_section(key, accuracy, bank, D.MAJ_N_ASSUMED)
    lengths_key = key if key in P.LENGTHS else "qwen2.5-7b"
    lengths = {k: v for k, v in P.LENGTHS[lengths_key].items() if k in ("kind", "median_tokens", "sigma",
                                                                         "min_tokens", "max_tokens", "between_share")}
    sources = [
        {"what": f"{gpu['name']}: memory bandwidth, dense bf16, memory, link", "value":
            f"{gpu['mem_bw_GBps']} GB/s, {gpu['bf16_tflops']} TFLOP/s, {gpu['memory_GB']} GB, "
            f"{gpu.get('interconnect_GBps')} GB/s", "source": gpu["sources"][0]},
        {"what": "efficiencies (weight bw, KV bw, FLOP/s, per-step overhead with CUDA graphs)", "value":
            f"{_eff('weight_bw')}, {_eff('kv_bw')}, {_eff('flops')}, {P.EFFICIENCY['t0_s']['cuda_graphs']} s",
         "source": "assumption, see docs/sources.md (EFFICIENCY)"},
        {"what": f"{arch.name} architecture", "value": f"{arch.params / 1e9:.2f} B params",
         "source": P.MODELS[key]["sources"][0] if isinstance(model, str) else "user-supplied config.json"},
        {"what": "accuracy", "value": acc["kind"], "source": acc.get("source", "")},
    ]
    if acc["kind"] == "parametric" and not (accuracy or bank):  # the historical rows of the shipped profiles
        pa = P.ACCURACY[key]
        sources[3:] = [{"what": f"{key} MATH-500 pass@1 and majority accuracy", "value":
                        f"{pa['pass1']} / {pa['maj_at_budget']['acc']} (majority assumed at N={D.MAJ_N_ASSUMED})",
                        "source": pa["sources"][0]},
                       {"what": "Beta fit of per-problem accuracy", "value": _fit_text(pa),
                        "source": "planner fit_beta"}]
    if dc.preset:
        accept = P.ACCEPTANCE[dc.preset]
        sources.append({"what": f"acceptance of {P.DRAFT_FOR[dc.preset]} draft per position",
                        "value": str(accept["alpha"]), "source": "assumption: " + accept["reason"][:160]})
    sources += dc.sources
    sources.append({"what": "generation length (log-normal)", "value":
                    f"median {lengths['median_tokens']} tokens, sigma {lengths['sigma']}, between-problem share "
                    f"{lengths['between_share']}", "source": "assumption: " + P.LENGTHS[lengths_key]["reason"][:160]})
    notes = ["derived, not measured: run `planner calibrate` on your device"]
    if path != "bf16" or arch.weight_dtype or arch.kv_dtype:
        notes.append(f"weights {arch.weight_dtype or 'bf16'} ({arch.weight_bytes / 1e9:.2f} GB), KV cache "
                     f"{arch.kv_dtype or 'bf16'}, GEMMs on the {path} tensor-core path")
    notes += dc.notes
    if key not in P.LENGTHS:
        notes.append("generation lengths: the Qwen2.5 MATH CoT assumption; reasoning models (R1 distills, Qwen3 "
                     "thinking) write far longer answers: calibrate")
    if acc["kind"] == "none":
        notes.append(f"no accuracy: {acc['source']}; recommend/pareto refuse until {D.ACCURACY_FLAGS} is given")
    prefill_flops = quant.peak_tflops(gpu, path, path) * 1e12 * _eff("prefill_flops") * tp
    pid = f"{gpu_key}-{key}" if isinstance(model, str) else f"{gpu_key}-{arch.name.split('/')[-1].lower()}"
    if tp != D.auto_tp_or_none(arch, gpu):
        pid += f"-tp{tp}"
    if (draft or draft_config or acceptance) and not dc.preset:  # another drafter than the preset's: another id
        pid += "-" + {"model": "draft", "none": "nodraft"}.get(dc.draft["kind"], dc.draft["kind"])
    parts = ProfileParts(
        id=pid, description=f"{arch.name} on {tp}x {gpu['name']} (TP {tp}), {dc.label}. Derived from "
                            "datasheet and published numbers, not measured.",
        provenance={"kind": "derived", "sources": sources, "notes": "; ".join(notes)},
        hardware=D.hardware_section(gpu, tp, path),
        model=arch,
        # derived coefficients are written unrounded (dict sections pass through the assembler as given)
        target={**_step(gpu, tp, path), "verify_s": _spec("verify_s")},
        prefill={"t0_s": P.EFFICIENCY["prefill_t0_s"]["value"], "s_per_token": 2 * arch.params / prefill_flops},
        lengths=lengths, accuracy=acc, prompt_tokens=200, temperature=TEMPERATURE, top_p=1.0)
    parts.draft, parts.acceptance = dc.draft, dc.acceptance
    if dc.arch is not None:  # a draft model: its own weights on the bf16 path (heads: the target's coefficients)
        parts.draft_step = {**_step(gpu, tp), "t0_s": _spec("draft_t0_s")}
        parts.draft_arch = dc.arch
    return assemble(parts, origin=pid)


def _fit_text(pa: dict) -> str:
    from planner.accuracy.parametric import fit_beta

    fit = fit_beta(pa["pass1"], {D.MAJ_N_ASSUMED: pa["maj_at_budget"]["acc"]}, D.WRONG_MODE_SHARE)
    return f"a={fit.a:.3f} b={fit.b:.3f} rho={fit.rho} residuals {fit.residuals}"


def _preset_of(arch: ModelArch) -> str | None:
    """The preset a config.json describes, by its Hugging Face id only (a fine-tune has other numbers)."""
    hf = (arch.hf_id or "").lower()
    return next((k for k, m in P.MODELS.items() if hf and m["hf_id"].lower() == hf), None)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="write the derived profiles (GPU presets x Qwen2.5 presets)")
    ap.add_argument("--out", default="profiles")
    args = ap.parse_args(argv)
    out = Path(args.out)
    for g in SHIPPED_GPUS:
        for m in DEFAULT_MODELS:
            d = derive_profile(g, m)  # validated by the assembler, and again by the writer
            write_profile(d, out / f"{d['id']}.json")
    print(f"wrote {len(SHIPPED_GPUS) * len(DEFAULT_MODELS)} profiles to {out}/")


if __name__ == "__main__":
    main()
