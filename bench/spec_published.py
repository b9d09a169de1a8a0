"""Speculation x batch: the derived profiles' speed-up against published GPU measurements.

Why: the planner trades branches against draft length on GPUs it has never seen, so its speculative speed-up
must shrink with batch and peak at the right draft length as real engines do. The published points live in
bench/published/spec_points.csv (sources in bench/published/README.md), each marked train or test: the train
split fixed the speculation coefficients in planner/profile/presets.py (SPECULATION; `--fit` re-runs that grid
search), the test split is only ever predicted.

Each series is derived exactly like a shipped profile (`derive_profile` on the GPU preset with the series'
architectures), so what is checked is the shipped derivation; an EAGLE head is the planner's own draft kind
(`draft.kind` eagle / eagle3, priced by planner/model/drafts.py) with the published acceptance lengths as
`acceptance.length` (planner/profile/accept_length.py). Speed-up = decode step time / (round time / tau), the
tokens-per-second ratio at one batch size and context. tau comes from the published acceptance lengths (through
the profile's acceptance, which reproduces each one) when the source gives them; otherwise it is solved from the
series' batch-1 point (train), so that point has no error by construction and the batch trend is what is tested.

    python bench/spec_published.py            # per-point table, medians, sign of speed-up vs batch, best K
    python bench/spec_published.py --rounds   # round time / plain step, published (tau / speed-up) vs model
    python bench/spec_published.py --fit      # grid search of the four coefficients on the train split
"""

from __future__ import annotations

import argparse
import csv
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.model import drafts
from planner.model.latency import round_time, tokens_per_round
from planner.profile import presets as P
from planner.profile.derive import derive_profile
from planner.profile.schema import ModelArch, Profile

POINTS = Path(__file__).parent / "published" / "spec_points.csv"


def _qwen3(layers, h, inter, heads, kv, vocab, tied) -> int:
    """Qwen3 decoder parameters: q/k/v/o without bias, q/k RMSNorm per head dim, SwiGLU, two norms per layer."""
    hd = 128
    per = h * heads * hd + 2 * h * kv * hd + heads * hd * h + 2 * hd + 3 * h * inter + 2 * h
    return layers * per + h + vocab * h * (1 if tied else 2)


def _llama_layer(h=4096, inter=14336, heads=32, kv=8) -> int:
    hd = 128
    return h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * inter + 2 * h


# Architectures from the models' config.json (README lists the repos). Heads are not architectures here: they are
# the planner's draft kinds (planner/model/drafts.py prices a head from its layers, fc and LM head on the target).
ARCHS = {
    "qwen3-8b": ModelArch("Qwen3-8B", _qwen3(36, 4096, 12288, 32, 8, 151936, False), 36, 4096, 32, 8, 128, 151936),
    "qwen3-0.6b": ModelArch("Qwen3-0.6B", _qwen3(28, 1024, 3072, 16, 8, 151936, True), 28, 1024, 16, 8, 128, 151936),
    "llama3.1-8b": ModelArch("Llama-3.1-8B", 32 * _llama_layer() + 4096 + 2 * 128256 * 4096, 32, 4096, 32, 8, 128,
                             128256),
    # The heads written out by hand from their config.json (one Llama layer, the fc of 2 or 3 h x h, the LM head a
    # draft step runs: the target's 128k rows for EAGLE-1, its own 32k for EAGLE-3): not used to price, an
    # independent count that planner/model/drafts.py's generic rule must agree with (tests/unit/test_drafts.py).
    "eagle1-head": ModelArch("EAGLE-1 head", _llama_layer() + 2 * 4096 * 4096 + 128256 * 4096, 1, 4096, 32, 8, 128,
                             128256),
    "eagle3-head": ModelArch("EAGLE-3 head", _llama_layer() + 3 * 4096 * 4096 + 32000 * 4096, 1, 4096, 32, 8, 128,
                             32000),
    # Llama-3.3-70B-Instruct has Llama-3.1-70B's config.json (80 layers, h 8192, 28672, 64 heads, 8 KV heads)
    "llama3.3-70b": ModelArch("Llama-3.3-70B", 80 * _llama_layer(8192, 28672, 64, 8) + 8192 + 2 * 128256 * 8192, 80,
                              8192, 64, 8, 128, 128256),
}
# Draft heads as the profile schema spells them (draft.kind, draft.head): one decoder layer each; EAGLE-3's
# LM head is its 32k draft vocabulary (config.json draft_vocab_size of yuhuili/EAGLE3-LLaMA3.1-Instruct-8B).
HEADS = {
    "eagle1-head": {"kind": "eagle", "name": "yuhuili/EAGLE-LLaMA3.1-Instruct-8B",
                    "head": {"layers": 1, "hf_id": "yuhuili/EAGLE-LLaMA3.1-Instruct-8B"}},
    "eagle3-head": {"kind": "eagle3", "name": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B",
                    "head": {"layers": 1, "draft_vocab": 32000, "hf_id": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B"}},
    # priced by the generic rule (one target layer, fc, a 32k draft vocabulary as in every EAGLE-3 config read);
    # sglang#4716 notes this head's hidden size differs from the target's (its fc maps between them): not modelled
    "eagle3-70b-head": {"kind": "eagle3", "name": "yuhuili/EAGLE3-LLaMA3.3-Instruct-70B",
                        "head": {"layers": 1, "draft_vocab": 32000, "hf_id": "yuhuili/EAGLE3-LLaMA3.3-Instruct-70B"}},
}
GPU_OF = {"H100 80GB": "h100-sxm", "H100 (see README)": "h100-sxm", "8x H100 (TP8)": "h100-sxm"}
KINDS = ("none", "draft_model", "ngram", "eagle", "eagle3", "mtp")


def load(path: Path = POINTS) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["K"], r["batch"], r["context_tokens"] = int(r["K"]), int(r["batch"]), int(r["context_tokens"])
        r["speedup"] = float(r["speedup"])
        r["tau"] = float(r["tau"]) if r["tau"] else None
        r["tp"] = int(r["tp"] or 1)
        r["topk"] = int(r["topk"]) if r["topk"] else None
        r["tree_tokens"] = int(r["tree_tokens"]) if r["tree_tokens"] else None
        for k in ("tpot_ms", "base_tpot_ms"):
            r[k] = float(r[k]) if r[k] else None
        if r["kind"] not in KINDS:
            raise ValueError(f"{path}: kind {r['kind']!r} of {r['series']} is not one of {KINDS}")
    return rows


def tree_alpha(tau: float, depth: int, topk: int, tokens: int) -> float:
    """The constant per-depth acceptance whose best-first tree (planner/model/drafts.py) gains `tau` tokens a
    round: the published acceptance length of a tree draft, turned into the profile's alpha (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if drafts.tree_tau([mid], depth, topk, tokens) < tau else (lo, mid)
    return 0.5 * (lo + hi)


def profile_for(series: list[dict], coeffs: dict | None = None) -> Profile:
    """The derived profile of a series (GPU preset x its target and drafter), with optional coefficient overrides.
    A head drafter is the planner's own draft kind (priced by planner/model/drafts.py on the target's step
    coefficients); where the source publishes acceptance lengths they are the profile's `acceptance.length`
    (planner/profile/accept_length.py turns them into per-position alpha)."""
    row = series[0]
    d = derive_profile(GPU_OF[row["gpu"]], ARCHS[row["target"]], tp=row["tp"], draft_like="qwen2.5-7b")
    if row["drafter"] in HEADS:
        d["draft"] = dict(HEADS[row["drafter"]])
        d["step"].pop("draft", None)  # a head without its own coefficients: drafts.head_coeffs
        lengths = {str(r["K"]): r["tau"] for r in series if r["tau"] is not None}
        if row["topk"] is not None:  # a tree: one published length -> the constant alpha that tree reproduces
            d["draft"]["tree"] = {"topk": row["topk"], "tokens": row["tree_tokens"]}
            a = tree_alpha(row["tau"], row["K"], row["topk"], row["tree_tokens"])
            d["acceptance"] = {"temperature": 0.0, "alpha": [a] * row["K"]}
        elif lengths:
            d["acceptance"] = {"temperature": 0.0, "length": lengths}
    else:
        d["draft"]["arch"] = {k: v for k, v in ARCHS[row["drafter"]].__dict__.items() if v is not None}
    p = Profile.from_dict(d, origin=row["series"])
    if coeffs:
        t = replace(p.step, verify_s=coeffs["verify_s"], roofline_p=coeffs["roofline_p"])
        base = p.draft.step if p.draft.step is not None else replace(t, verify_s=None)
        extra = coeffs.get("eagle3_step_s", P.SPECULATION["eagle3_step_s"]["value"]) if p.draft.kind == "eagle3" else 0
        dr = replace(base, t0_s=coeffs["draft_t0_s"] + extra, roofline_p=coeffs["roofline_p"])
        p = replace(p, step=t, draft=replace(p.draft, step=dr))
    return p


def speedup(p: Profile, K: int, B: int, L: int, tau: float | None = None) -> float:
    """Tokens-per-second ratio of rounds of K drafts over plain steps; tau None: the profile's own tokens per
    round (tokens_per_round, from its acceptance)."""
    if tau is None:
        tau = float(tokens_per_round(p, np.array([K]))[0])
    return float(round_time(p, 0, B, L) / (round_time(p, K, B, L) / tau))


def predict(rows: list[dict], coeffs: dict | None = None) -> list[float]:
    """Predicted speed-up per row; tau from the profile's published acceptance lengths, else from the series'
    batch-1 point."""
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(r["series"], []).append(r)
    profs = {s: profile_for(rs, coeffs) for s, rs in by_series.items()}
    taus, out = {}, []
    for r in rows:
        p = profs[r["series"]]
        if r["tau"] is None and r["batch"] == 1:
            taus[r["series"]] = r["speedup"] / speedup(p, r["K"], 1, r["context_tokens"], 1.0)
    for r in rows:
        p = profs[r["series"]]
        tau = None if r["tau"] is not None else taus[r["series"]]
        out.append(speedup(p, r["K"], r["batch"], r["context_tokens"], tau))
    return out


def _err(rows, pred, split):
    e = [abs(q / r["speedup"] - 1) for r, q in zip(rows, pred)
         if r["split"] == split and not (r["tau"] is None and r["batch"] == 1)]
    return float(np.median(e)) if e else float("nan"), len(e)


def trends(rows, pred):
    """Per batch series: sign of speed-up(largest batch) - speed-up(batch 1), published vs predicted."""
    out = []
    for s in dict.fromkeys(r["series"] for r in rows):
        idx = [i for i, r in enumerate(rows) if r["series"] == s]
        bs = [rows[i]["batch"] for i in idx]
        if len(set(bs)) < 2:
            continue
        lo, hi = idx[int(np.argmin(bs))], idx[int(np.argmax(bs))]
        out.append((s, np.sign(rows[hi]["speedup"] - rows[lo]["speedup"]), np.sign(pred[hi] - pred[lo]),
                    rows[hi]["speedup"] < 1, pred[hi] < 1))
    return out


def best_k(rows, pred):
    """Per K sweep at one batch: the published best K against the predicted one."""
    out = []
    for s in dict.fromkeys(r["series"] for r in rows):
        idx = [i for i, r in enumerate(rows) if r["series"] == s]
        if len({rows[i]["K"] for i in idx}) < 2:
            continue
        pub = rows[max(idx, key=lambda i: rows[i]["speedup"])]["K"]
        mod = rows[max(idx, key=lambda i: pred[i])]["K"]
        out.append((s, rows[idx[0]]["split"], pub, mod))
    return out


def rounds(rows):
    """Per series with published acceptance lengths: round time in plain decode steps, published (tau / speed-up,
    i.e. TPOT x AL / vanilla TPOT) against the model's round_time(K) / round_time(0), and the bytes a draft step of
    the head reads (planner/model/drafts.py). Separates the round's cost from the acceptance input."""
    out = []
    for s in dict.fromkeys(r["series"] for r in rows):
        rs = [r for r in rows if r["series"] == s and r["tau"] is not None]
        if not rs:
            continue
        p = profile_for(rs)
        head = drafts.draft_arch(p.model, p.draft)
        for r in rs:
            L = r["context_tokens"]
            model = float(round_time(p, r["K"], r["batch"], L) / round_time(p, 0, r["batch"], L))
            out.append((s, r["K"], r["tau"] / r["speedup"], model, head.params * head.dtype_bytes / 1e9))
    return out


def fit(rows):
    """Grid search on the train split, in two stages. (1) roofline_p, verify_s, draft_t0_s on the train rows of
    every draft kind but EAGLE-3: smallest median |error|, the best K of the train K sweeps kept. (2) With those,
    eagle3_step_s (the extra fixed time of an EAGLE-3 draft step) on the EAGLE-3 train rows. Stage 2 cannot move
    stage 1: eagle3_step_s prices EAGLE-3 heads only."""
    train = [r for r in rows if r["split"] == "train" and r["kind"] != "eagle3"]
    results = []
    for p, v, d in itertools.product((1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0),
                                     (0.0, 0.0002, 0.0004, 0.0006, 0.0008, 0.001, 0.0012),
                                     (0.0001, 0.0002, 0.0003, 0.0004, 0.0006, 0.0008)):
        c = {"roofline_p": p, "verify_s": v, "draft_t0_s": d}
        pr = predict(train, c)
        e, _ = _err(train, pr, "train")
        k_ok = all(a == b for _, _, a, b in best_k(train, pr))
        results.append(((not k_ok, e), c))
    # the train split barely separates p between 4 and 16; among fits within 0.1 point of the best, take the
    # smallest p (the width cost the step-time fit of the same engine shows, docs/sources.md)
    (bad, e_best), _ = min(results, key=lambda x: x[0])
    ok = [(k, c) for k, c in results if k[0] == bad and k[1] <= e_best + 0.001]
    key, c = min(ok, key=lambda x: (x[1]["roofline_p"], x[0][1]))
    e3 = [r for r in rows if r["split"] == "train" and r["kind"] == "eagle3"]
    if e3:
        grid = [round(0.00005 * i, 5) for i in range(61)]  # 0 .. 3 ms by 0.05 ms
        errs = [(_err(e3, predict(e3, {**c, "eagle3_step_s": g}), "train")[0], g) for g in grid]
        c = {**c, "eagle3_step_s": min(errs)[1]}
    return c, key[1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="grid-search the coefficients on the train split")
    ap.add_argument("--rounds", action="store_true", help="round time in plain steps, published vs model")
    ap.add_argument("--hard-roofline", action="store_true", help="compare: the old model (max, no round overhead)")
    args = ap.parse_args(argv)
    rows = load()
    if args.fit:
        c, e = fit(rows)
        print(f"train-split fit: {c}  stage-1 median |error| {100 * e:.1f} % (presets.SPECULATION holds "
              f"{ {k: v['value'] for k, v in P.SPECULATION.items()} })")
        return
    if args.rounds:
        print(f"{'series':24} {'K':>2} {'published':>9} {'model':>6} {'error':>7}  (round / plain step; head GB/step)")
        for s, K, pub, mod, gb in rounds(rows):
            print(f"{s:24} {K:>2} {pub:>9.3f} {mod:>6.3f} {100 * (mod / pub - 1):+6.1f}%  {gb:.2f}")
        return
    coeffs = {"roofline_p": None, "verify_s": 0.0, "draft_t0_s": P.EFFICIENCY["t0_s"]["cuda_graphs"],
              "eagle3_step_s": 0.0} \
        if args.hard_roofline else None
    pred = predict(rows, coeffs)
    print(f"{'series':24} {'split':5} {'K':>2} {'B':>4} {'L':>5} {'published':>9} {'model':>6} {'error':>7}")
    for r, q in zip(rows, pred):
        fixed = r["tau"] is None and r["batch"] == 1
        err = "(tau)" if fixed else f"{100 * (q / r['speedup'] - 1):+.1f}%"
        print(f"{r['series']:24} {r['split']:5} {r['K']:>2} {r['batch']:>4} {r['context_tokens']:>5} "
              f"{r['speedup']:>9.2f} {q:>6.2f} {err:>7}")
    for split in ("train", "test"):
        e, n = _err(rows, pred, split)
        print(f"median |error| {split}: {100 * e:.1f} % over {n} points" + ("  (target <= 10 %)" if split == "test"
                                                                           else ""))
    for s, ps, ms, pslow, mslow in trends(rows, pred):
        print(f"speed-up vs batch {s:24} published {'falls' if ps < 0 else 'rises'}, model "
              f"{'falls' if ms < 0 else 'rises'}{'' if ps == ms else '  MISMATCH'}; slowdown at largest batch: "
              f"published {'yes' if pslow else 'no'}, model {'yes' if mslow else 'no'}")
    for s, split, pk, mk in best_k(rows, pred):
        print(f"best K {s:24} ({split}) published {pk}, model {mk}{'' if pk == mk else '  MISMATCH'}")


if __name__ == "__main__":
    main()
