"""Train the miniature world's reward model on the policy's own answers, labelled by the task's checker.

    python -m tools.miniworld.train_reward [--out DIR] [--quick] [--cache FILE]

The target samples `--samples` answers at temperature 1 to `--problems` train-split questions. A
`LlamaForSequenceClassification` (num_labels 1, the policy's tokenizer, a chat template that concatenates
question and answer) holds the policy's embeddings and first two layers, frozen (by then the policy has the
line's sum: 88 % by the logit lens at `=`), one fresh layer and the score head. It is trained as a process
reward model: a logistic loss at every line end (`;`) against "this line is what the recurrence gives from the
values written so far" and at the answer's end against "the answer is the last value written" (the task's
checker applied per step), on the policy's answers plus as many of the training generator's chains with more
slips (30 % per line). It is read with `reward:DIR?step=min&sep=%3B`: the weakest line's logit.

Status (docs/miniworld.md): it does NOT yet tell a slip from a right line within 300 steps (held-out AUC about
0.6-0.7, best-of-8 below pass@1); what was tried is listed there. Writes DIR (default
planner/demo/miniworld/weights/reward): fp16 weights, the tokenizer, reward_log.json (data, losses, held-out
AUC, timings). Fixed seeds and step counts end it, not the clock.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from planner.demo.miniworld import task
from planner.demo.miniworld.tokenizer import BOS_ID, EOS_ID, PAD_ID, build_tokenizer, encode
from tools.miniworld.measure import load, sample
from tools.miniworld.train import lr_at

WEIGHTS = Path(__file__).resolve().parents[2] / "planner" / "demo" / "miniworld" / "weights"
# Policy layers 0..policy_layers-1 (the first `frozen` of them frozen) + fresh layers up to `layers`: three layers
# keep the fp16 weights under 2 MB (the policy's four would be 2.1 MB). From scratch, 1,280 answers did not
# teach a small model mod-10 addition (loss at chance).
SPEC = dict(layers=3, policy_layers=2, frozen=2, steps=300, quick_steps=10, lr=3e-3, batch=16, synthetic=16,
            synthetic_slip=0.3)
SEED = 4321
# The scorer (planner/executor/reward_local.py) renders [user: question, assistant: answer] with the tokenizer's
# chat template; this one concatenates them, so it reads exactly the BOS + question + answer ids trained on.
CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def from_policy(spec: dict):
    """A LlamaForSequenceClassification (num_labels 1) holding the target's embeddings and first layers."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    src = LlamaForCausalLM.from_pretrained(WEIGHTS / "target", dtype=torch.float32)
    base = {k: v for k, v in src.config.to_dict().items() if k not in ("id2label", "label2id")}
    cfg = LlamaConfig(**{**base, "num_hidden_layers": spec["layers"], "num_labels": 1,
                         "architectures": ["LlamaForSequenceClassification"], "tie_word_embeddings": False,
                         "pad_token_id": PAD_ID, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID})
    model = LlamaForSequenceClassification(cfg)
    body = {k[len("model."):]: v for k, v in src.state_dict().items() if k.startswith("model.")}
    keep = {k: v for k, v in body.items()
            if (k != "norm.weight" or spec["policy_layers"] == spec["layers"])
            and (not k.startswith("layers.") or int(k.split(".")[1]) < spec["policy_layers"])}
    missing, unexpected = model.model.load_state_dict(keep, strict=False)
    assert not unexpected and all(k.startswith("layers.") or k == "norm.weight" for k in missing), missing
    for name, prm in model.model.named_parameters():   # the policy's layers stay as they are: they compute sums
        if name.startswith("embed_tokens") or (name.startswith("layers.") and
                                               int(name.split(".")[1]) < spec["frozen"]):
            prm.requires_grad_(False)
    torch.nn.init.normal_(model.score.weight, std=0.02)
    return model


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
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(rows), batch):
            x, *_ = batch_tensors(rows[i:i + batch])
            out += model(input_ids=x).logits[:, 0].float().tolist()
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
        text = task.noisy_solution(p.question, rng, slip)
        ans = task.extract_answer(text)
        yield {"question": p.question, "text": text, "answer": ans, "correct": task.grade(ans, p.answer)}


def train(rows: list[dict], steps: int, spec: dict, log_every: int = 50) -> tuple[object, list[float]]:
    import torch

    torch.manual_seed(SEED)
    model = from_policy(spec)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=spec["lr"], betas=(0.9, 0.98),
                            weight_decay=0.01)
    order = random.Random(SEED)
    synth = synthetic(SEED, spec["synthetic_slip"])
    chunks, losses, t0 = [], [], time.perf_counter()
    model.train()
    for step in range(steps):
        if not chunks:  # an epoch: shuffled, then batches of similar length (less padding), in shuffled order
            idx = list(range(len(rows)))
            order.shuffle(idx)
            idx.sort(key=lambda i: len(rows[i]["text"]))
            chunks = [idx[i:i + spec["batch"]] for i in range(0, len(idx), spec["batch"])]
            order.shuffle(chunks)
        x, _, y, mask = batch_tensors([rows[i] for i in chunks.pop()] + [next(synth) for _ in range(spec["synthetic"])])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, spec["lr"])
        logits = model.score(model.model(input_ids=x).last_hidden_state)[..., 0]   # (B, T): every position
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(round(loss.item(), 5))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"[reward] step {step + 1}/{steps} loss {sum(losses[-log_every:]) / len(losses[-log_every:]):.4f} "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)
    return model.eval(), losses


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
    ap.add_argument("--problems", type=int, default=160, help="train-split questions the policy answers")
    ap.add_argument("--samples", type=int, default=8, help="answers per question")
    ap.add_argument("--steps", type=int, help=f"training steps (default {SPEC['steps']})")
    ap.add_argument("--quick", action="store_true", help="a smoke test: few problems and steps, not a usable model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", help="keep the policy's sampled answers in this JSON file and reuse them (tuning)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    n_train, n_val = (16, 8) if a.quick else (a.problems, 50)
    train_q = [p.question for p in _questions("train", n_train)]
    val_q = [p.question for p in _questions("val", n_val)]
    cache = Path(a.cache) if a.cache else None
    if cache is not None and cache.is_file():
        rows, val = json.loads(cache.read_text())
    else:
        rows = policy_samples(train_q, [task.solve(q).answer for q in train_q], a.samples, seed=1)
        val = policy_samples(val_q, [task.solve(q).answer for q in val_q], a.samples, seed=2)
        if cache is not None:
            cache.write_text(json.dumps([rows, val]))
    t_sample = time.perf_counter() - t0
    steps = a.steps or (SPEC["quick_steps"] if a.quick else SPEC["steps"])
    model, losses = train(rows, steps, SPEC, log_every=5 if a.quick else 50)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    save(model, out)
    val_auc = auc(score(model, val), [r["correct"] for r in val])
    log = {"seed": SEED, "spec": SPEC, "steps": steps, "threads": a.threads, "torch": torch.__version__,
           "train": {"problems": n_train, "samples": a.samples, "answers": len(rows),
                     "right_share": round(sum(r["correct"] for r in rows) / len(rows), 4)},
           "val": {"problems": n_val, "answers": len(val), "auc": round(val_auc, 4)},
           "params": sum(p.numel() for p in model.parameters()), "final_loss": sum(losses[-20:]) / len(losses[-20:]),
           "losses": losses[::10], "seconds": {"sampling": round(t_sample, 1),
                                                "total": round(time.perf_counter() - t0, 1)}}
    (out / "reward_log.json").write_text(json.dumps(log, indent=1) + "\n")
    print(f"reward model: {len(rows)} answers, val AUC {val_auc:.3f}, {log['seconds']['total']:.0f}s -> {out}")
    return 0


def _questions(split: str, n: int):
    """n distinct questions of a split in a seeded order (the train split never overlaps val/test)."""
    qs = sorted(task.split_questions(split))
    random.Random(SEED).shuffle(qs)
    return [task.solve(q) for q in qs[:n]]


if __name__ == "__main__":
    sys.exit(main())
