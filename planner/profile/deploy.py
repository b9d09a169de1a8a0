"""How a model is deployed on a datasheet GPU: tensor-parallel degree, number formats, the hardware section, and
where the accuracy numbers come from. Shared by `planner.profile.derive` and the commands' --model-config flags.

Why here: a derived profile must never borrow numbers it has no right to (another model's accuracy, a TP degree
the heads cannot be split by, fp8 FLOP/s on a part without fp8), and each refusal is one line naming the flag
that fixes it. Stdlib only; the Beta fit (scipy) is imported where an accuracy is fitted."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from planner.errors import PlannerError
from planner.profile import presets as P
from planner.profile import quant
from planner.profile.schema import ModelArch

TP_CHOICES = (1, 2, 4, 8)     # what the automatic choice tries (engines' usual degrees)
AUTO_WEIGHT_SHARE = 0.7       # auto TP: weights may take this share of memory, the rest is KV cache
MAX_WEIGHT_SHARE = 0.9        # an explicit --tp is refused above this (vLLM's default gpu_memory_utilization)
WRONG_MODE_SHARE = 0.5        # share of wrong answers agreeing on one recurring wrong answer (assumption)
ACCURACY_FLAGS = "--accuracy pass1=P,maj=A@N (published or measured figures) or --bank FILE (a sample bank)"


def gpu_preset(key: str) -> dict:
    if key not in P.GPUS:
        raise PlannerError(f"--gpu: unknown GPU preset {key!r}; choose from {', '.join(P.GPUS)}")
    return P.GPUS[key]


def with_formats(arch: ModelArch, weight_dtype: str | None, kv_dtype: str | None,
                 linear_params: float | None = None) -> ModelArch:
    """`arch` with the weight / KV formats the flags name (None keeps what the config or preset said)."""
    changes = {}
    if weight_dtype:
        wd = quant.canonical(weight_dtype, "--weight-dtype")
        changes.update(weight_dtype=wd, weight_group_size=quant.DEFAULT_GROUP.get(wd), weight_zero_point=None,
                       compute_dtype=None,
                       quantized_params=linear_params if linear_params is not None else arch.quantized_params)
        if changes["quantized_params"] is None:  # no split known: embedding and lm_head stay unquantised
            changes["quantized_params"] = max(arch.params - 2.0 * arch.vocab * arch.hidden, 0.0)
    if kv_dtype:
        changes["kv_dtype"] = quant.canonical(kv_dtype, "--kv-dtype", quant.KV_DTYPES)
    return dataclasses.replace(arch, **changes) if changes else arch


def compute_path(arch: ModelArch) -> str:
    return quant.compute_path(arch.weight_dtype, arch.compute_dtype)


def check_tp(arch: ModelArch, tp: int, gpu: dict, flag: str = "--tp") -> int:
    """Refuse a degree the attention heads cannot be split by or whose weight shard does not fit."""
    if tp < 1 or tp > 64:
        raise PlannerError(f"{flag} {tp}: must be between 1 and 64")
    if arch.heads % tp:
        ok = [d for d in range(1, min(arch.heads, 64) + 1) if arch.heads % d == 0]
        raise PlannerError(f"{flag} {tp}: must divide the model's {arch.heads} attention heads; choose one of "
                           f"{', '.join(map(str, ok))}")
    if arch.kv_heads % tp and tp % arch.kv_heads:
        raise PlannerError(f"{flag} {tp}: the model's {arch.kv_heads} KV heads can be neither split over nor "
                           f"replicated across {tp} GPUs; use a divisor or multiple of {arch.kv_heads}")
    per_gpu = arch.weight_bytes / tp / 1e9
    if per_gpu > MAX_WEIGHT_SHARE * gpu["memory_GB"]:
        raise PlannerError(f"{flag} {tp}: the weights need {per_gpu:.1f} GB per GPU, more than "
                           f"{MAX_WEIGHT_SHARE:.0%} of a {gpu['name']}'s {gpu['memory_GB']:g} GB; raise --tp or "
                           "use a smaller --weight-dtype (fp8, int8, int4)")
    return tp


def auto_tp(arch: ModelArch, gpu: dict) -> int:
    """Smallest usual degree that splits the heads and leaves >= 30 % of memory for the KV cache."""
    for tp in TP_CHOICES:
        if arch.heads % tp == 0 and (arch.kv_heads % tp == 0 or tp % arch.kv_heads == 0) \
                and arch.weight_bytes / tp <= AUTO_WEIGHT_SHARE * gpu["memory_GB"] * 1e9:
            return tp
    raise PlannerError(f"{arch.name} does not fit on up to 8x {gpu['name']} ({arch.weight_bytes / 1e9:.0f} GB of "
                       "weights): use --weight-dtype int4/fp8 or a larger GPU")


def auto_tp_or_none(arch: ModelArch, gpu: dict) -> int | None:
    try:
        return auto_tp(arch, gpu)
    except PlannerError:
        return None


def hardware_section(gpu: dict, tp: int, path: str) -> dict:
    hw = {"name": gpu["name"], "mem_bw_GBps": gpu["mem_bw_GBps"], "bf16_tflops": gpu["bf16_tflops"],
          "memory_GB": gpu["memory_GB"], "gpus": tp, "tensor_parallel": tp,
          "interconnect_GBps": gpu.get("interconnect_GBps")}
    if path != "bf16":  # profiles on the bf16 path keep the sections written before these fields existed
        hw.update(fp8_tflops=gpu.get("fp8_tflops"), int8_tops=gpu.get("int8_tops"))
    return {k: v for k, v in hw.items() if v is not None}


# --- accuracy: the user's, the preset's own, or none --------------------------------------------------------
_ACC_RE = re.compile(r"^\s*pass1\s*=\s*([0-9.]+)\s*,\s*maj\s*=\s*([0-9.]+)\s*@\s*([0-9]+)\s*$")


def parse_accuracy(text: str) -> tuple[float, int, float]:
    """'pass1=0.5,maj=0.62@8' -> (0.5, 8, 0.62): single-sample accuracy and majority-vote accuracy at N votes."""
    m = _ACC_RE.match(text or "")
    if not m:
        raise PlannerError(f"--accuracy {text!r}: expected pass1=P,maj=A@N, e.g. pass1=0.50,maj=0.66@16 (single-"
                           "sample accuracy P, majority-vote accuracy A at N votes, both in (0, 1))")
    p1, maj, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
    if not 0 < p1 < 1 or not 0 < maj < 1:
        raise PlannerError(f"--accuracy {text!r}: accuracies must lie strictly between 0 and 1")
    if not 2 <= n <= 4096:
        raise PlannerError(f"--accuracy {text!r}: the vote count N must be between 2 and 4096")
    return p1, n, maj


def fitted_accuracy(pass1: float, n: int, maj: float, dataset: str | None, source: str) -> dict:
    """Beta(a, b) per-problem accuracy fitted to pass@1 and one majority point (planner.accuracy.parametric)."""
    from planner.accuracy.parametric import fit_beta

    fit = fit_beta(pass1, {n: maj}, WRONG_MODE_SHARE)
    return {"kind": "parametric", "beta_a": round(fit.a, 4), "beta_b": round(fit.b, 4),
            "wrong_mode_share": WRONG_MODE_SHARE, **({"dataset": dataset} if dataset else {}), "source": source}


def accuracy_section(key: str | None, accuracy: str | None, bank: str | None, maj_n: int) -> dict:
    """The profile's accuracy: --accuracy, --bank, else the preset's own published figures; otherwise kind
    'none' (latency-only), which every accuracy-based command refuses naming the two flags. Never another
    model's numbers."""
    if accuracy and bank:
        raise PlannerError("give --accuracy or --bank, not both")
    if accuracy:
        p1, n, maj = parse_accuracy(accuracy)
        return fitted_accuracy(p1, n, maj, None, f"user --accuracy {accuracy.strip()} (pass@1 {p1}, majority "
                                                 f"{maj} at N={n})")
    if bank:
        path = Path(bank)
        if not path.is_file():
            raise PlannerError(f"--bank {bank}: no such file (a sample bank, docs/accuracy.md)")
        return {"kind": "bank", "path": str(path.resolve()), "format": "tts-bank", "source": f"user --bank {bank}"}
    if key in P.ACCURACY:
        acc = P.ACCURACY[key]
        return fitted_accuracy(acc["pass1"], MAJ_N_ASSUMED, acc["maj_at_budget"]["acc"], acc["dataset"],
                               f"fit to {acc['sources'][0]} (pass@1 {acc['pass1']}, majority "
                               f"{acc['maj_at_budget']['acc']} assumed at N={MAJ_N_ASSUMED})")
    if key in P.PASS1_ONLY:
        a = P.PASS1_ONLY[key]
        why = (f"published pass@1 {a['pass1']} ({a['what']}; {a['sources'][0]}) fixes the mean but not how voting "
               "scales")
    else:
        why = P.NO_ACCURACY_FOUND.get(key, "no published accuracy for this model is known to the planner")
    return {"kind": "none", "source": f"latency-only: {why}"}


MAJ_N_ASSUMED = 64   # vote count assumed for the 'Major.' column of 2502.06703 Table 5 (not stated there)
