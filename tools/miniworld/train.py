"""Train the miniature world: a small target LM and a smaller draft LM on the digit-recurrence task.

    python -m tools.miniworld.train --out DIR [--quick]

Writes DIR/target/ and DIR/draft/ (each a `LlamaForCausalLM` saved with `save_pretrained`, fp16 weights,
plus the shared tokenizer) and the tokenizer in DIR/ itself, and DIR/train_log.json with losses and timings.
Both models see the same deterministic stream of training problems; only the prompt is masked from the loss.
The step counts, not the wall clock, end training, so a rerun on the same machine gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

from planner.demo.miniworld import task
from planner.demo.miniworld.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB, build_tokenizer, encode

# Target 1.05M params, draft 67k. The draft has one layer on purpose: a two-layer draft learns the task as
# well as the target (per-token acceptance ~0.99, so K would never matter); one layer leaves it ~0.85.
MODELS = {
    "target": dict(hidden=128, layers=4, heads=4, inter=512, steps=500, quick_steps=60, lr=3e-3),
    "draft": dict(hidden=64, layers=1, heads=2, inter=256, steps=1000, quick_steps=60, lr=4e-3),
}
BATCH = 32
BUCKET = 8          # batches per length-sorted bucket (less padding, same data)
WARMUP_FRAC = 0.05
SEED = 1234


def model_config(spec: dict):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=spec["hidden"], num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"], num_key_value_heads=spec["heads"],
        intermediate_size=spec["inter"], max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID, rms_norm_eps=1e-5)


def batches(seed: int):
    """Endless (input_ids, labels) batches from the train split; prompt tokens carry label -100."""
    import torch

    stream = task.iter_split("train", seed)
    order = random.Random(seed)
    slips = random.Random(seed + 1)
    while True:
        seqs = []
        for _ in range(BATCH * BUCKET):
            p = next(stream)
            q, s = encode(p.question), encode(task.noisy_solution(p.question, slips))
            seqs.append(([BOS_ID] + q + s + [EOS_ID], 1 + len(q)))
        seqs.sort(key=lambda t: len(t[0]))
        chunks = [seqs[i:i + BATCH] for i in range(0, len(seqs), BATCH)]
        order.shuffle(chunks)
        for chunk in chunks:
            width = max(len(ids) for ids, _ in chunk)
            x = torch.full((len(chunk), width), PAD_ID, dtype=torch.long)
            y = torch.full((len(chunk), width), -100, dtype=torch.long)
            for r, (ids, n_prompt) in enumerate(chunk):
                x[r, :len(ids)] = torch.tensor(ids)
                y[r, n_prompt:len(ids)] = torch.tensor(ids[n_prompt:])
            yield x, y


def lr_at(step: int, total: int, peak: float) -> float:
    warm = max(1, int(WARMUP_FRAC * total))
    if step < warm:
        return peak * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def save(model, dest: Path, tokenizer) -> None:
    """fp16 weights (half the size); the config says float32 so a plain from_pretrained computes in fp32."""
    import torch

    model.generation_config.bos_token_id = BOS_ID
    model.generation_config.eos_token_id = EOS_ID
    model.generation_config.pad_token_id = PAD_ID
    half = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.save_pretrained(dest, state_dict=half)
    cfg_path = dest / "config.json"  # the model is fp32, but say so explicitly for from_pretrained's "auto"
    cfg = json.loads(cfg_path.read_text())
    cfg["dtype"] = "float32"
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    tokenizer.save_pretrained(dest)


def train_one(name: str, spec: dict, steps: int, out: Path, tokenizer, log_every: int = 50,
              save_every: int = 0) -> dict:
    """Train one model from a fixed seed for a fixed number of steps; save it; return its log."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(SEED)
    model = LlamaForCausalLM(model_config(spec))
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], betas=(0.9, 0.98), weight_decay=0.01)
    data = batches(SEED)
    model.train()
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, spec["lr"])
        x, y = next(data)
        # Right padding under a causal mask cannot leak into real tokens, so no attention mask is needed.
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(round(loss.item(), 5))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            recent = sum(losses[-log_every:]) / len(losses[-log_every:])
            print(f"[{name}] step {step + 1}/{steps} loss {recent:.4f} "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)
        if save_every and (step + 1) % save_every == 0 and step + 1 < steps:
            save(model, out / f"{name}-step{step + 1}", tokenizer)
    seconds = time.perf_counter() - t0
    model.eval()
    save(model, out / name, tokenizer)
    return {"params": n_params, "steps": steps, "batch": BATCH, "seconds": round(seconds, 1),
            "final_loss": sum(losses[-20:]) / len(losses[-20:]), "losses": losses[::10], "spec": spec}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.miniworld.train", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--quick", action="store_true", help="a few steps only: a smoke test for CI, not a usable model")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: results independent of core count; faster on a busy 2-core VM)")
    ap.add_argument("--only", choices=sorted(MODELS), help="train just one of the two models")
    ap.add_argument("--steps", type=int, help="override the number of training steps (tuning)")
    ap.add_argument("--save-every", type=int, default=0, help="also save checkpoints every N steps (tuning)")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    out = Path(a.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: cannot create output directory {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(out)
    log = {"seed": SEED, "quick": a.quick, "threads": a.threads, "torch": torch.__version__, "models": {}}
    t0 = time.perf_counter()
    for name, spec in MODELS.items():
        if a.only and name != a.only:
            continue
        steps = a.steps or (spec["quick_steps"] if a.quick else spec["steps"])
        log["models"][name] = train_one(name, spec, steps, out, tokenizer, log_every=10 if a.quick else 50,
                                        save_every=a.save_every)
    log["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")
    print(f"trained {', '.join(log['models'])} in {log['seconds']:.0f}s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
