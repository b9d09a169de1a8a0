"""The flags that describe a deployment without a profile file: `--model-config CONFIG|PRESET --gpu GPU` plus
`--tp`, `--weight-dtype`, `--kv-dtype`, `--accuracy`, `--bank`, and the drafter: `--draft`, `--draft-config`,
`--acceptance` (planner/profile/drafter.py). Shared by recommend, predict and `profiles derive`
so each flag is parsed and refused one way (planner/profile/deploy.py holds the rules)."""

from __future__ import annotations

from planner import checks

WEIGHT_FORMATS = "bf16, fp16, fp8, int8, int4"
KV_FORMATS = "bf16, fp16, fp8, int8"


def add(p) -> None:
    g = p.add_argument_group("a model without a profile (derived from its config.json and a GPU datasheet)")
    g.add_argument("--model-config", metavar="CONFIG_JSON|PRESET",
                   help="the model: a Hugging Face config.json (or its folder), or a model preset such as "
                        "llama-3.1-8b, qwen3-32b, r1-distill-qwen-7b (use with --gpu)")
    g.add_argument("--gpu", metavar="PRESET", help="GPU preset for --model-config (`planner profiles gpus` lists "
                                                   "them: h100-sxm, h200, b200, a100-40gb, l4, mi300x, ...)")
    g.add_argument("--tp", type=checks.flag_number("--tp", integer_=True, lo=1, hi=64), metavar="N",
                   help="tensor-parallel degree (default: the smallest that fits); must divide the attention heads")
    g.add_argument("--weight-dtype", metavar="FMT", help=f"weight format ({WEIGHT_FORMATS}; int4 with group-128 "
                                                          "scales); default: quantization_config / torch_dtype")
    g.add_argument("--kv-dtype", metavar="FMT", help=f"KV-cache format ({KV_FORMATS}); default: the activation "
                                                      "format (kv_cache_dtype auto)")
    g.add_argument("--accuracy", metavar="pass1=P,maj=A@N",
                   help="the model's accuracy: single-sample P and majority-vote A at N votes (e.g. "
                        "pass1=0.50,maj=0.66@16); without it or --bank a model with no published figures is "
                        "latency-only")
    g.add_argument("--bank", metavar="FILE", help="the model's accuracy from a sample bank (docs/accuracy.md)")
    g.add_argument("--draft", metavar="KIND[:ID]",
                   help="the drafter: draft_model:<config.json|preset>, ngram, eagle:<HF id>, eagle3:<HF id>, mtp, "
                        "or none (default: the preset's own drafter; a model with none known plans K = 0)")
    g.add_argument("--draft-config", metavar="CONFIG_JSON",
                   help="the draft's Hugging Face config.json (a draft model's architecture, or a head's layers "
                        "and draft_vocab_size)")
    g.add_argument("--acceptance", metavar="A",
                   help="the drafter's acceptance on this model: per-position alphas 0.8,0.7,0.6, a published "
                        "acceptance length length=3.2@K4 (tokens per verify round at draft length 4), or none")


def given(args) -> bool:
    return any(getattr(args, k, None) not in (None, False) for k in
               ("model_config", "gpu", "tp", "weight_dtype", "kv_dtype", "accuracy", "bank", "draft",
                "draft_config", "acceptance"))


def derive(args) -> dict:
    """The derived profile dict the flags describe (validated by the assembler)."""
    from pathlib import Path

    from planner.errors import PlannerError
    from planner.io import read_json
    from planner.profile import presets as P
    from planner.profile.derive import derive_profile
    from planner.profile.hf_config import arch_from_hf_config

    config, gpu = getattr(args, "model_config", None), getattr(args, "gpu", None)
    if not config or not gpu:
        raise PlannerError("--model-config and --gpu go together (e.g. --model-config config.json --gpu h100-sxm); "
                           "--tp, --weight-dtype, --kv-dtype, --accuracy, --bank, --draft, --draft-config and "
                           "--acceptance refine them")
    opts = dict(tp=args.tp, weight_dtype=args.weight_dtype, kv_dtype=args.kv_dtype, accuracy=args.accuracy,
                bank=args.bank, draft=args.draft, draft_config=args.draft_config, acceptance=args.acceptance)
    if config in P.MODELS and not Path(config).exists():
        return derive_profile(gpu, config, **opts)
    cp = Path(config)
    try:
        is_dir = cp.is_dir()
    except OSError:  # e.g. a name too long: the config reader says so in one line
        is_dir = False
    name = cp.name if is_dir else (cp.parent.resolve().name if cp.name == "config.json" else cp.stem)
    arch = arch_from_hf_config(config, name=name, weight_dtype=args.weight_dtype, kv_dtype=args.kv_dtype)
    raw = read_json(cp / "config.json" if is_dir else cp, "model config")  # token ids, MTP layers
    return derive_profile(gpu, arch, target_raw=raw if isinstance(raw, dict) else None, **opts)


def profile(args):
    """The flags' profile as a Profile, or None when no model flag was given."""
    if not given(args):
        return None
    from planner.profile.schema import Profile

    data = derive(args)
    return Profile.from_dict(data, origin=f"<derived: {data['id']}>")
