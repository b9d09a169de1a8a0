"""Derived step time / TPOT (`planner predict --tpot`) against published engine figures, per draft kind.

Why: a user holds the planner's per-token time against an engine benchmark before trusting a plan; each draft
kind (none, draft_model, ngram, eagle, eagle3, mtp) is priced by different terms, so each is checked on its own.

Two tables. (1) Plain decoding of Llama-3.1-8B-Instruct on H100 at batch 1 (vllm#20780: 7.07 ms; vllm PR #16937,
"H100 BS1": 133 tok/s = 7.5 ms) and the SpecDecode-Bench step-time fit for the same pair (5.89 ms + 21.0 us per
batched token + 39.3 ns per cached token + 1.21 ms per engine step; docs/sources.md) at batch 1..128. (2) Every
row of bench/published/spec_points.csv, grouped by draft kind, train/test marked: the published TPOT with and
without speculation where the source gives it (`tpot_ms`, `base_tpot_ms`; kind "none" rows are the plain TPOTs)
against the derived profile's (the profile bench/spec_published.py builds: datasheet GPU preset, the series'
architectures and acceptance; tpot_rows of planner/model/tpot.py), and for every row TPOT relative to plain
decoding (1 / speed-up), the only TPOT figure a speed-up-only source gives. Nothing is fitted here; the
coefficients are the train-split fit of bench/spec_published.py --fit.

    python bench/tpot_published.py [--context 400]
"""

from __future__ import annotations

import argparse

import numpy as np

import spec_published as S
from planner.model.tpot import tpot_rows
from planner.profile.derive import derive_profile
from planner.profile.schema import Profile

PUBLISHED_B1 = [("vllm#20780 (MT-Bench, vLLM V1)", 7.07), ("vllm PR #16937 (H100 BS1, 133 tok/s)", 1000 / 133)]


def specbench_step_ms(batch: int, context: int) -> float:
    """SpecDecode-Bench simulator, class Llama8BH100 (predictor.py): one decode step of `batch` sequences."""
    return 5.89 + 0.0210 * batch + 39.3e-6 * batch * context + 1.21


def per_kind_rows(rows: list[dict]) -> list[dict]:
    """Per published row: published and derived TPOT (ms; None where the source gives no absolute figure) and
    TPOT relative to plain decoding, plus one 'none' row per series and batch that publishes a plain TPOT."""
    pred = S.predict(rows)  # speed-up; tau from the published lengths, else the series' batch-1 point
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(r["series"], []).append(r)
    profs = {s: S.profile_for(rs) for s, rs in by_series.items()}
    out, plain_seen = [], set()
    for r, sp in zip(rows, pred):
        p, B, L = profs[r["series"]], r["batch"], r["context_tokens"]
        plain = tpot_rows(p, batches=(B,), ks=(0,), context=L)[0]["tpot_ms"]
        fixed = r["tau"] is None and B == 1  # tau solved from this point: no error by construction
        if r["base_tpot_ms"] is not None and (r["source"], r["target"], r["tp"], B) not in plain_seen:
            plain_seen.add((r["source"], r["target"], r["tp"], B))
            out.append({**r, "kind": "none", "series": f"{r['target']} (plain, {r['source']})", "K": 0,
                        "pub_ms": r["base_tpot_ms"], "model_ms": plain, "pub_rel": 1.0, "model_rel": 1.0,
                        "fixed": False})
        out.append({**r, "pub_ms": r["tpot_ms"], "model_ms": plain / sp, "pub_rel": 1 / r["speedup"],
                    "model_rel": 1 / sp, "fixed": fixed})
    return out


def print_per_kind(rows: list[dict]) -> None:
    print(f"{'kind':11} {'series':34} {'split':5} {'K':>2} {'B':>4} {'pub ms':>7} {'model ms':>8} {'error':>7} "
          f"{'pub rel':>7} {'model rel':>9} {'error':>7}")
    for kind in S.KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            print(f"{kind:11} (no published row with a speed and an acceptance length; bench/published/README.md)")
            continue
        abs_e, rel_e = [], []
        for r in rs:
            ea = r["model_ms"] / r["pub_ms"] - 1 if r["pub_ms"] is not None else None
            er = None if r["fixed"] or kind == "none" else r["model_rel"] / r["pub_rel"] - 1
            if ea is not None:
                abs_e.append(abs(ea))
            if er is not None:
                rel_e.append(abs(er))
            pub = f"{r['pub_ms']:7.2f}" if r["pub_ms"] is not None else f"{'-':>7}"
            rel = "(tau)" if r["fixed"] else ("" if er is None else f"{100 * er:+.1f}%")
            print(f"{kind:11} {r['series']:34} {r['split']:5} {r['K']:>2} {r['batch']:>4} {pub} "
                  f"{r['model_ms']:8.2f} {'' if ea is None else f'{100 * ea:+.1f}%':>7} {r['pub_rel']:7.3f} "
                  f"{r['model_rel']:9.3f} {rel:>7}")
        for split in ("train", "test"):
            a = [abs(r["model_ms"] / r["pub_ms"] - 1) for r in rs if r["split"] == split and r["pub_ms"] is not None]
            b = [abs(r["model_rel"] / r["pub_rel"] - 1) for r in rs if r["split"] == split and not r["fixed"]
                 and kind != "none"]
            if a or b:
                print(f"{kind:11} median |error| {split}: TPOT "
                      + (f"{100 * float(np.median(a)):.1f} % ({len(a)})" if a else "-")
                      + ", TPOT / plain " + (f"{100 * float(np.median(b)):.1f} % ({len(b)})" if b else "-"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--context", type=int, default=400, help="cached tokens per sequence, table 1 (default 400)")
    args = ap.parse_args(argv)
    p = Profile.from_dict(derive_profile("h100-sxm", "llama-3.1-8b"))
    rows = {r["batch"]: r for r in tpot_rows(p, context=args.context)}
    print(f"Llama-3.1-8B-Instruct on H100 SXM (derived profile {p.id}), {args.context} cached tokens per sequence\n")
    print(f"{'published':42s} {'published ms':>12s} {'derived ms':>10s} {'error':>7s}")
    for name, ms in PUBLISHED_B1:
        d = rows[1]["tpot_ms"]
        print(f"{name:42s} {ms:12.2f} {d:10.2f} {d / ms - 1:+7.1%}")
    for b, r in rows.items():
        ms = specbench_step_ms(b, args.context)
        print(f"{'SpecDecode-Bench step fit, batch ' + str(b):42s} {ms:12.2f} {r['step_ms']:10.2f} "
              f"{r['step_ms'] / ms - 1:+7.1%}")
    print("\nPer draft kind, bench/published/spec_points.csv (context per row; rel = TPOT / plain TPOT)\n")
    print_per_kind(per_kind_rows(S.load()))


if __name__ == "__main__":
    main()
