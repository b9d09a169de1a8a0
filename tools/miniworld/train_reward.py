"""Train the miniature world's reward model on the policy's own answers, labelled by the task's checker.

    python -m tools.miniworld.train_reward [--out DIR] [--quick] [--cache FILE]

A `LlamaForSequenceClassification` (num_labels 1, from scratch: hidden 64, 2 layers, 4 heads; the policy's
character tokenizer, a chat template that concatenates question and answer) trained as a process reward model on
synthetic chains only (the training generator with 30 % result slips and 10 % operand copy slips, labelled by
the checker per step): a logistic loss at every line end (`;`) against "this line is what the recurrence gives
from the values written so far" and at the answer's end against "the answer is the last value written", plus
throw-away auxiliary heads (aux_targets) without which the loss stalls at the base rate. It is read with
`reward:DIR?step=min&sep=%3B`: the weakest line's logit. The policy's answers to `--problems` val questions
only measure it (AUC).

Writes DIR (default
planner/demo/miniworld/weights/reward): fp16 weights, the tokenizer, reward_log.json (data, losses, held-out
AUC, timings). Fixed seeds and step counts end it, not the clock.
"""

from __future__ import annotations

import argparse
import json
import itertools
import random
import sys
import time
from pathlib import Path

from planner.demo.miniworld import task
from planner.demo.miniworld.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB, build_tokenizer, encode
from tools.miniworld.measure import load, sample
from tools.miniworld.train import lr_at

WEIGHTS = Path(__file__).resolve().parents[2] / "planner" / "demo" / "miniworld" / "weights"
SPEC = dict(hidden=64, layers=2, steps=600, quick_steps=10, lr=3e-3, batch=64, synthetic_slip=0.3)
SEED = 4321
# The scorer (planner/executor/reward_local.py) renders [user: question, assistant: answer] with the tokenizer's
# chat template; this one concatenates them, so it reads exactly the BOS + question + answer ids trained on.
CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def from_scratch(spec: dict):
    """A fresh LlamaForSequenceClassification (num_labels 1) over the policy's character vocabulary."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from planner.demo.miniworld.tokenizer import VOCAB

    cfg = LlamaConfig(vocab_size=len(VOCAB), hidden_size=spec["hidden"], intermediate_size=2 * spec["hidden"],
                      num_hidden_layers=spec["layers"], num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=256, num_labels=1, pad_token_id=PAD_ID, bos_token_id=BOS_ID,
                      eos_token_id=EOS_ID, tie_word_embeddings=False,
                      architectures=["LlamaForSequenceClassification"])
    return LlamaForSequenceClassification(cfg)


def aux_targets(x, mask):
    """At every line end (`;`): the digits a, b, c of `a+b=c;` (5, 3, 1 characters back) and (a + b) mod 10,
    as the 4 x 10 classes of a throw-away head (train() adds the 2 operands the recurrence wants). Why: "c == (a + b) mod 10" has no first-order signal (each digit
    alone says nothing), so the binary loss alone stalls at the base rate; reading a, b, c and forming the sum
    are easy sub-goals that put them in the residual stream, where the score head compares them."""
    import torch

    semi = mask & (x == VOCAB[";"])
    bi, ti = semi.nonzero(as_tuple=True)
    a, b, c = (x[bi, ti - k] - VOCAB["0"] for k in (5, 3, 1))
    return bi, ti, torch.stack([a, b, c, (a + b) % 10], 1)


def policy_samples(questions: list[str], refs: list[str], samples: int, seed: int) -> list[dict]:
    """The target's own answers at temperature 1, each graded by the task's checker."""
    target, tok = load(WEIGHTS, "target")
    order = sorted(range(len(questions)), key=lambda i: questions[i][-2])   # by chain length: less idle padding
    questions, refs = [questions[i] for i in order], [refs[i] for i in order]
    comps = sample(target, tok, questions, samples, temperature=1.0, batch_problems=32, seed=seed)
    rows = []
    for i, (q, ref, cs) in enumerate(zip(questions, refs, comps)):
        for text, n in cs:
            ans = task.extract_answer(text)
            rows.append({"problem": i, "question": q, "text": text, "answer": ans, "num_tokens": n,
                         "correct": bool(ans is not None and task.grade(ans, ref))})
    return rows


def ids_of(question: str, text: str) -> list[int]:
    """What the scorer reads: the tokenizer's ids of question + answer text (BOS first, no EOS)."""
    return [BOS_ID] + encode(question + text)


def step_labels(question: str, text: str) -> list[tuple[int, float]]:
    """(character index, label) of every step end: each line's `;` and the answer's last character. A line is
    right when it is what the recurrence gives from the values written so far (its operands copied and its sum
    right), the final `A:x` when x is the last value written: the checker's own recurrence, applied per step."""
    vals = [int(c) for c in question[2:7:2]]                 # x0, x1, x2 of "Q:a,b,c,nK="
    out, pos = [], 0
    for seg in text.split(";"):
        end = pos + len(seg)                                   # index of this segment's ";" (or the text's end)
        if seg.startswith("A:"):
            out.append((len(text) - 1, float(seg[2:] == str(vals[-1]))))
            break
        head, _, body = seg.partition(":")
        want = f"{vals[-1]}+{vals[-3]}={(vals[-1] + vals[-3]) % 10}"
        if end < len(text):
            out.append((end, float(body == want)))
        written = body.rpartition("=")[2]
        vals.append(int(written) if written.isdigit() and len(written) == 1 else -1)
        pos = end + 1
    return out


def batch_tensors(rows: list[dict]):
    """(ids, answer labels, per-step labels, mask of the step ends), right-padded."""
    import torch

    seqs = [ids_of(r["question"], r["text"]) for r in rows]
    x = torch.full((len(seqs), max(map(len, seqs))), PAD_ID, dtype=torch.long)
    lab = torch.zeros(x.shape)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    for i, (r, s) in enumerate(zip(rows, seqs)):
        x[i, :len(s)] = torch.tensor(s)
        start = 1 + len(r["question"])                  # the answer's step ends (the prompt says nothing)
        for j, y in step_labels(r["question"], r["text"]):
            mask[i, start + j], lab[i, start + j] = True, y
    return x, torch.tensor([float(r["correct"]) for r in rows]), lab, mask


def score(model, rows: list[dict], batch: int = 256) -> list[float]:
    """What `reward:DIR?step=min&sep=%3B` gives: the weakest step end's logit."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(rows), batch):
            x, _, _, mask = batch_tensors(rows[i:i + batch])
            logits = model.score(model.model(input_ids=x).last_hidden_state)[..., 0]
            out += logits.masked_fill(~mask, float("inf")).min(dim=1).values.tolist()
    return out


def auc(scores: list[float], labels: list[bool]) -> float:
    """P(a right answer scores above a wrong one), ties half."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def synthetic(seed: int, slip: float):
    """Endless train-split chains with slips at rate `slip` (the policy's own training generator, more slips),
    labelled by the checker like the policy's answers: many wrong sums for the model to learn from."""
    stream, rng = task.iter_split("train", seed), random.Random(seed + 1)
    while True:
        p = next(stream)
        text = miscopy(task.noisy_solution(p.question, rng, slip), rng, slip / 3)
        ans = task.extract_answer(text)
        yield {"question": p.question, "text": text, "answer": ans, "correct": task.grade(ans, p.answer)}


def miscopy(text: str, rng: random.Random, rate: float) -> str:
    """Copy slips as the policy makes them: an operand of a line replaced by another digit (the written sum then
    follows the wrong operand half the time), the chain carrying on from what was written."""
    lines = text.split(";")
    for i, ln in enumerate(lines[:-1]):
        if rng.random() < rate:
            head, a, b, c = ln[:2], ln[2], ln[4], ln[6]
            k = rng.choice((2, 4))
            new = str((int(ln[k]) + rng.randint(1, 9)) % 10)
            a, b = (new, b) if k == 2 else (a, new)
            if rng.random() < 0.5:
                c = str((int(a) + int(b)) % 10)
            lines[i] = f"{head}{a}+{b}={c}"
    return ";".join(lines)


def operand_targets(rows: list[dict]) -> list[list[int]]:
    """Per row, per line: the two operands the recurrence wants from the values written so far."""
    out = []
    for r in rows:
        vals, want = [int(c) for c in r["question"][2:7:2]], []
        for seg in r["text"].split(";")[:-1]:
            want.append((vals[-1], vals[-3]))
            w = seg.rpartition("=")[2]
            vals.append(int(w) if w.isdigit() and len(w) == 1 else 0)
        out.append(want)
    return out


def train(steps: int, spec: dict, log_every: int = 50) -> tuple[object, list[float]]:
    """Synthetic chains only (the checker labels them exactly): logistic loss at every step end + the
    auxiliary digit heads (aux_targets), which are dropped afterwards."""
    import torch

    torch.manual_seed(SEED)
    model = from_scratch(spec)
    aux = torch.nn.Linear(spec["hidden"], 60)
    opt = torch.optim.AdamW(list(model.parameters()) + list(aux.parameters()), lr=spec["lr"], betas=(0.9, 0.98),
                            weight_decay=0.01)
    synth = synthetic(SEED, spec["synthetic_slip"])
    losses, t0 = [], time.perf_counter()
    model.train()
    for step in range(steps):
        batch = [next(synth) for _ in range(spec["batch"])]
        x, _, y, mask = batch_tensors(batch)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, spec["lr"])
        hidden = model.model(input_ids=x).last_hidden_state
        logits = model.score(hidden)[..., 0]   # (B, T): every position
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask])
        bi, ti, digits = aux_targets(x, mask)
        want = torch.tensor([ab for w in operand_targets(batch) for ab in w])   # row-major, as nonzero()
        digits = torch.cat([digits, want], 1)
        loss = loss + torch.nn.functional.cross_entropy(aux(hidden[bi, ti]).view(-1, 10), digits.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(round(loss.item(), 5))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"[reward] step {step + 1}/{steps} loss {sum(losses[-log_every:]) / len(losses[-log_every:]):.4f} "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)
    return model.eval(), losses


def line_accuracy(model, n: int = 500) -> float:
    """Share of held-out synthetic step ends (other seed, 30 % slips) whose sign matches the checker."""
    import torch

    x, _, y, mask = batch_tensors(list(itertools.islice(synthetic(SEED + 99, SPEC["synthetic_slip"]), n)))
    with torch.inference_mode():
        logits = model.score(model.model(input_ids=x).last_hidden_state)[..., 0]
    return ((logits[mask] > 0).float() == y[mask]).float().mean().item()


def save(model, dest: Path) -> None:
    """fp16 weights; the config says float32 so a plain from_pretrained computes in fp32 (as the policy's)."""
    import torch

    half = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.save_pretrained(dest, state_dict=half)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["dtype"] = "float32"
    (dest / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_tokenizer(dest)


def save_tokenizer(dest: Path) -> None:
    tok = build_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.miniworld.train_reward", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(WEIGHTS / "reward"), help="output directory (created)")
    ap.add_argument("--problems", type=int, default=50, help="val-split questions the policy answers (AUC)")
    ap.add_argument("--samples", type=int, default=8, help="answers per question")
    ap.add_argument("--steps", type=int, help=f"training steps (default {SPEC['steps']})")
    ap.add_argument("--quick", action="store_true", help="a smoke test: few problems and steps, not a usable model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", help="keep the policy's sampled answers in this JSON file and reuse them (tuning)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    n_val = 8 if a.quick else a.problems
    val_q = [p.question for p in _questions("val", n_val)]
    cache = Path(a.cache) if a.cache else None
    if cache is not None and cache.is_file():
        val = json.loads(cache.read_text())
    else:
        val = policy_samples(val_q, [task.solve(q).answer for q in val_q], a.samples, seed=2)
        if cache is not None:
            cache.write_text(json.dumps(val))
    t_sample = time.perf_counter() - t0
    steps = a.steps or (SPEC["quick_steps"] if a.quick else SPEC["steps"])
    model, losses = train(steps, SPEC, log_every=5 if a.quick else 50)
    line_acc = line_accuracy(model)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    save(model, out)
    val_auc = auc(score(model, val), [r["correct"] for r in val])
    log = {"seed": SEED, "spec": SPEC, "steps": steps, "threads": a.threads, "torch": torch.__version__,
           "train": {"synthetic_chains": steps * SPEC["batch"]},
           "val": {"problems": n_val, "answers": len(val), "auc": round(val_auc, 4)},
           "synthetic_line_accuracy": round(line_acc, 4),
           "params": sum(p.numel() for p in model.parameters()), "final_loss": sum(losses[-20:]) / len(losses[-20:]),
           "losses": losses[::10], "seconds": {"sampling": round(t_sample, 1),
                                                "total": round(time.perf_counter() - t0, 1)}}
    (out / "reward_log.json").write_text(json.dumps(log, indent=1) + "\n")
    print(f"reward model: line accuracy {line_acc:.4f}, val AUC {val_auc:.3f}, {log['seconds']['total']:.0f}s -> {out}")
    return 0


def _questions(split: str, n: int):
    """n distinct questions of a split in a seeded order (the train split never overlaps val/test)."""
    qs = sorted(task.split_questions(split))
    random.Random(SEED).shuffle(qs)
    return [task.solve(q) for q in qs[:n]]


if __name__ == "__main__":
    sys.exit(main())
