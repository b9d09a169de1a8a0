"""Measured cost of a reward model's scoring pass (`planner calibrate --scorer-model DIR`): best-of-N and
weighted voting run one forward of the N answers through the reward model after generation
(planner/model/scoring.py), so a calibrated profile carries that forward's time on the same device, fitted as
t = t0_s + s_per_token * (batch x tokens per answer) over a small grid of batches and lengths."""

from __future__ import annotations

import statistics

from planner.calibrate.fit import fit_prefill
from planner.calibrate.points import StepPoint, check_seconds
from planner.errors import PlannerError

BATCHES = (1, 4, 16)
TOKENS = (32, 128)


def load_reward_model(path: str, device: str = "cpu", dtype: str = "fp32"):
    """A `*ForSequenceClassification` with one output (an outcome reward model), in eval mode; anything else is
    a one-line error naming the flag."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        cfg = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise PlannerError(f"--scorer-model {path}: no model config there ({type(e).__name__}); give a reward "
                           "model folder (config.json + weights)") from None
    archs = list(getattr(cfg, "architectures", None) or [])
    if not any(a.endswith("ForSequenceClassification") for a in archs) or int(cfg.num_labels) != 1:
        raise PlannerError(f"--scorer-model {path}: not an outcome reward model (architectures {archs or '?'}, "
                           f"num_labels {cfg.num_labels}); need a *ForSequenceClassification with num_labels 1")
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype, torch.float32)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch_dtype)
    return model.to(device).eval()


def measure_scorer(path: str, device: str = "cpu", dtype: str = "fp32", repeats: int = 3,
                   batches=BATCHES, tokens=TOKENS) -> dict:
    """The profile's `scorer` section: name, measured prefill coefficients and the fit's residual."""
    import torch

    from planner.engine.forward import timed

    model = load_reward_model(path, device, dtype)
    vocab = int(model.config.vocab_size)
    gen = torch.Generator().manual_seed(0)
    points = []
    with torch.inference_mode():
        for B in batches:
            for q in tokens:
                ids = torch.randint(4, vocab, (B, q), generator=gen).to(device)
                model(input_ids=ids)                                         # warm-up of this shape
                times = []
                for _ in range(repeats):
                    t = timed(device)
                    model(input_ids=ids)
                    times.append(check_seconds(t(), "scorer forward"))
                points.append(StepPoint("prefill", 1, B * q, 0, statistics.median(times)))
    coeffs, err = fit_prefill(points)
    name = str(path).rstrip("/").split("/")[-1] or "reward-model"
    return {"name": name, "prefill": {"t0_s": round(coeffs.t0_s, 7), "s_per_token": float(f"{coeffs.s_per_token:.6g}")},
            "fit": {"median_rel_error": round(err, 5), "points": [[p.query, round(p.seconds, 7)] for p in points]}}
