"""Check that the miniature world behaves like the real one: accuracy that voting raises, spread-out lengths,
and a draft the target accepts often. A measurement report, not a decoding engine: it uses `generate`.

    python -m tools.miniworld.measure --dir DIR [-n 200] [--samples 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from planner.demo.miniworld import task


def load(path: str | Path, which: str = "target"):
    """(model, tokenizer) from DIR/<which>, in fp32 eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = Path(path) / which
    return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(d)


def sample(model, tok, questions: list[str], n: int, temperature: float = 1.0, max_new_tokens: int = 128,
           batch_problems: int = 8, seed: int = 0) -> list[list[tuple[str, int]]]:
    """n completions per question as (text, tokens generated including EOS); greedy when temperature == 0."""
    import torch

    torch.manual_seed(seed)
    out = []
    for i in range(0, len(questions), batch_problems):
        enc = tok(questions[i:i + batch_problems], return_tensors="pt", padding=True)
        kw = dict(do_sample=False) if temperature == 0 else dict(do_sample=True, temperature=temperature, top_k=0,
                                                                  top_p=1.0, num_return_sequences=n)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id, **kw)
        new = gen[:, enc["input_ids"].shape[1]:]
        rows = []
        for r in new.tolist():
            k = r.index(tok.eos_token_id) + 1 if tok.eos_token_id in r else len(r)
            rows.append((tok.decode(r[:k], skip_special_tokens=True), k))
        per = 1 if temperature == 0 else n
        out.extend(rows[j:j + per] for j in range(0, len(rows), per))
    return out


def majority_credit(answers: list[str | None], reference: str) -> float:
    """1 if the most frequent answer is right, 1/k for a k-way tie that includes it; None never wins."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return 0.0
    top = max(counts.values())
    tied = [a for a, c in counts.items() if c == top]
    return (1.0 / len(tied)) if any(task.grade(a, reference) for a in tied) else 0.0


def maj_at(answers: list[str | None], reference: str, n: int, rng: random.Random, draws: int = 32) -> float:
    """Majority@n estimated from M >= n samples by averaging over random n-subsets (all M when n == M)."""
    if n == len(answers):
        return majority_credit(answers, reference)
    return sum(majority_credit(rng.sample(answers, n), reference) for _ in range(draws)) / draws


def acceptance(target, draft, tok, questions: list[str], completions: list[list[tuple[str, int]]]) -> dict:
    """Per-token speculative acceptance along target samples: at T=1 a drafted token is accepted with
    probability sum_v min(p_target, p_draft); greedy acceptance is argmax agreement."""
    import torch

    alphas, greedy = [], []
    for q, comps in zip(questions, completions):
        for text, _ in comps[:4]:
            ids = tok(q + text, return_tensors="pt")["input_ids"]
            ids = torch.cat([ids, torch.tensor([[tok.eos_token_id]])], dim=1)
            start = len(tok(q)["input_ids"]) - 1
            with torch.no_grad():
                pt = target(ids).logits[0, start:-1].softmax(-1)
                pd = draft(ids).logits[0, start:-1].softmax(-1)
            alphas.extend(torch.minimum(pt, pd).sum(-1).tolist())
            greedy.extend((pt.argmax(-1) == pd.argmax(-1)).float().tolist())
    mean_a = statistics.fmean(alphas)
    return {"alpha_T1": round(mean_a, 4), "greedy_match": round(statistics.fmean(greedy), 4),
            "tau_iid": {k: round((1 - mean_a ** (k + 1)) / (1 - mean_a), 3) for k in (1, 2, 4, 8)}}


def measure(path: str | Path, n: int = 200, samples: int = 16, seed: int = 0, temperature: float = 1.0) -> dict:
    t0 = time.perf_counter()
    target, tok = load(path, "target")
    draft, _ = load(path, "draft")
    probs = task.make_problems(n, seed, "test")
    qs = [p["question"] for p in probs]
    rep: dict = {"problems": n, "samples": samples, "split": "test", "seed": seed, "temperature": temperature}
    for name, model in (("target", target), ("draft", draft)):
        g = sample(model, tok, qs, 1, temperature=0)
        rep[f"{name}_greedy_acc"] = round(statistics.fmean(
            task.grade(task.extract_answer(c[0][0]), p["reference"]) for c, p in zip(g, probs)), 4)
    comps = sample(target, tok, qs, samples, temperature=temperature, seed=seed)
    rng = random.Random(seed)
    answers = [[task.extract_answer(t) for t, _ in c] for c in comps]
    for k in sorted({1, 4, 8, samples}):
        if k <= samples:
            rep[f"maj@{k}"] = round(statistics.fmean(maj_at(a, p["reference"], k, rng)
                                                     for a, p in zip(answers, probs)), 4)
    rep["pass@1"] = round(statistics.fmean(task.grade(x, p["reference"]) for a, p in zip(answers, probs)
                                           for x in a), 4)
    by_steps: dict[int, list[bool]] = {}
    for a, p in zip(answers, probs):
        by_steps.setdefault(p["steps"], []).extend(task.grade(x, p["reference"]) for x in a)
    rep["pass@1_by_steps"] = {s: round(statistics.fmean(v), 3) for s, v in sorted(by_steps.items())}
    lengths = sorted(k for c in comps for _, k in c)
    q = statistics.quantiles(lengths, n=10)
    rep["length"] = {"mean": round(statistics.fmean(lengths), 1), "min": lengths[0], "p10": q[0], "p50": q[4],
                     "p90": q[8], "max": lengths[-1], "p90/p10": round(q[8] / q[0], 2)}
    rep["no_answer_rate"] = round(statistics.fmean(x is None for a in answers for x in a), 4)
    rep["acceptance"] = acceptance(target, draft, tok, qs[:50], comps[:50])
    rep["seconds"] = round(time.perf_counter() - t0, 1)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.miniworld.measure", description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=str(Path(__file__).resolve().parents[2] / "planner" / "demo" / "miniworld" / "weights"))
    ap.add_argument("-n", type=int, default=200, help="held-out test problems")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the report here")
    a = ap.parse_args(argv)
    missing = [w for w in ("target", "draft") if not (Path(a.dir) / w / "config.json").is_file()]
    if missing:
        print(f"error: {a.dir} has no {' or '.join(missing)} model (expected DIR/target and DIR/draft "
              "as written by tools.miniworld.train)", file=sys.stderr)
        return 2
    if not 1 <= a.n <= len(task.split_questions("test")) or a.samples < 1:
        print(f"error: -n must be 1..{len(task.split_questions('test'))} and --samples >= 1", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(a.threads)
    rep = measure(a.dir, a.n, a.samples, a.seed, a.temperature)
    text = json.dumps(rep, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
