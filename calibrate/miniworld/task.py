"""The miniature world's reasoning task: left-to-right modular arithmetic with a chain of thought.

A problem is a start digit 0..9 followed by 1..MAX_STEPS labelled operations (label a, b, c, ...; + or - a
digit 1..9), evaluated left to right, modulo 10. The chain of thought restates the start digit, then
writes one line per operation, then the answer:

    question  "Q:3a+4b-7c+8="
    solution  "3;a+4=7;b-7=0;c+8=8;A:8"      (then EOS)
    answer    "8"

Why labels: a line looks its operation up by label (one induction step), and every line has the same width,
so the previous result sits at a fixed distance. That keeps the task learnable by a ~1M-parameter model in
minutes of CPU, while the chain still has to be carried out step by step. The output length grows with the
number of steps (6 characters per step), so sampled lengths spread by a factor of several, like real
chains of thought. The final answer is the number after the last "A:".

Training chains contain deliberate slips (`noisy_solution`): each step's result is wrong with probability
SLIP_PROB and the chain carries on from the wrong value, as a real model's arithmetic slip does. A model
fitted to that data samples slips at temperature 1 (so per-sample accuracy falls with chain length) while
its slips scatter over many wrong answers (so majority voting recovers the right one). References are exact.

Splits are fixed by a stable hash of the question text, independent of any seed: a question belongs to
exactly one of train / val / test, so held-out sets can never leak into training.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MODULUS = 10
MIN_STEPS = 1
MAX_STEPS = 10
LABELS = "abcdefghij"  # one per step, so MAX_STEPS <= len(LABELS)
OPS = ("+", "-")
OPERAND_MAX = 9
SLIP_PROB = 0.06
SPLITS = ("train", "val", "test")
_TEST_BUCKETS = range(0, 10)   # 10 % of the question space
_VAL_BUCKETS = range(10, 15)   # 5 %
_ANSWER_RE = re.compile(r"A:(\d+)")
_QUESTION_RE = re.compile(r"^Q:(\d)((?:[a-j][+\-][1-9])+)=$")


@dataclass(frozen=True)
class Problem:
    question: str  # the prompt text the model is given, e.g. "Q:7a+5b-2="
    solution: str  # the chain of thought plus the final "A:<n>", without EOS
    answer: str    # the reference answer, decimal, no leading zeros
    steps: int


def split_of(question: str) -> str:
    """Which split a question belongs to: a stable hash, the same on every machine and Python version."""
    bucket = int.from_bytes(hashlib.blake2b(question.encode(), digest_size=8).digest(), "big") % 100
    if bucket in _TEST_BUCKETS:
        return "test"
    if bucket in _VAL_BUCKETS:
        return "val"
    return "train"


def _apply(a: int, op: str, b: int) -> int:
    return (a + b) % MODULUS if op == "+" else (a - b) % MODULUS


def _parse(question: str) -> tuple[int, list[tuple[str, str, int]]]:
    m = _QUESTION_RE.match(question)
    ops = re.findall(r"([a-j])([+\-])([1-9])", m.group(2)) if m else []
    if not m or [lab for lab, _, _ in ops] != list(LABELS[:len(ops)]):
        raise ValueError(f"not a miniworld question: {question!r}")
    return int(m.group(1)), [(lab, op, int(d)) for lab, op, d in ops]


def _chain(question: str, rng: random.Random | None, slip: float) -> tuple[str, int, int]:
    acc, ops = _parse(question)
    lines = [str(acc)]
    for lab, op, d in ops:
        new = _apply(acc, op, d)
        if rng is not None and rng.random() < slip:
            new = (new + rng.randint(1, MODULUS - 1)) % MODULUS  # a slip lands on any other digit
        lines.append(f"{lab}{op}{d}={new}")
        acc = new
    lines.append(f"A:{acc}")
    return ";".join(lines), acc, len(ops)


def solve(question: str) -> Problem:
    """The exact chain of thought and answer for a question string."""
    solution, answer, steps = _chain(question, None, 0.0)
    return Problem(question, solution, str(answer), steps)


def noisy_solution(question: str, rng: random.Random, slip: float = SLIP_PROB) -> str:
    """A chain of thought for training in which each step slips with probability `slip`."""
    return _chain(question, rng, slip)[0]


def random_problem(rng: random.Random, steps: int | None = None) -> Problem:
    """One problem with `steps` operations (uniform in MIN_STEPS..MAX_STEPS when None)."""
    if steps is None:
        steps = rng.randint(MIN_STEPS, MAX_STEPS)
    text = str(rng.randrange(MODULUS))
    for k in range(steps):
        text += f"{LABELS[k]}{rng.choice(OPS)}{rng.randint(1, OPERAND_MAX)}"
    return solve(f"Q:{text}=")


def iter_split(split: str, seed: int) -> Iterator[Problem]:
    """Endless stream of problems of one split (with repeats possible), reproducible from `seed`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"miniworld:{split}:{seed}")
    while True:
        p = random_problem(rng)
        if split_of(p.question) == split:
            yield p


def make_problems(n: int, seed: int = 0, split: str = "test") -> list[dict]:
    """`n` distinct problems of a split as dicts {problem_id, question, reference, steps, solution}."""
    out, seen = [], set()
    for p in iter_split(split, seed):
        if len(out) >= n:
            break
        if p.question in seen:
            continue
        seen.add(p.question)
        out.append({
            "problem_id": f"miniworld/{split}/s{seed}/{len(out)}",
            "question": p.question,
            "reference": p.answer,
            "steps": p.steps,
            "solution": p.solution,
        })
    return out


def extract_answer(text: str | None) -> str | None:
    """The number after the last "A:" in a completion (without the prompt); None when there is none."""
    if not text:
        return None
    found = _ANSWER_RE.findall(text)
    if not found:
        return None
    return str(int(found[-1]))  # "07" -> "7": the reference never has leading zeros


def grade(answer: str | None, reference: str) -> bool:
    """True when an extracted answer equals the reference as an integer."""
    if answer is None:
        return False
    try:
        return int(str(answer).strip()) == int(str(reference).strip())
    except ValueError:
        return False


def math500_rows(problems: list[dict]) -> list[dict]:
    """The same problems as MATH-500-style rows: problem (the full prompt text), answer, unique_id."""
    return [{"problem": p["question"], "answer": p["reference"], "unique_id": p["problem_id"],
             "solution": p["solution"], "level": p["steps"]} for p in problems]


def write_jsonl(path: str | Path, problems: list[dict]) -> Path:
    """Write a held-out set as a MATH-500-style JSONL dataset (atomic)."""
    from planner.io import atomic_write_text

    text = "".join(json.dumps(r) + "\n" for r in math500_rows(problems))
    return atomic_write_text(path, text)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m calibrate.miniworld.task",
                                 description="Write a held-out miniworld problem set as MATH-500-style JSONL.")
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=SPLITS, default="test")
    a = ap.parse_args(argv)
    path = write_jsonl(a.out, make_problems(a.n, a.seed, a.split))
    print(f"wrote {a.n} {a.split} problems to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
