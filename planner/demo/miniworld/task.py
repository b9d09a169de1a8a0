"""The miniature world's reasoning task: a digit recurrence worked out line by line.

A problem gives three start digits x0, x1, x2 and a length n (1..MAX_STEPS). The chain of thought computes
the lagged sum x_{k+1} = (x_k + x_{k-2}) mod 10 for n lines, each line headed by how many lines remain after
it, and ends with the last value:

    question  "Q:2,7,4,n4="
    solution  "3:4+2=6;2:6+7=3;1:3+4=7;0:7+6=3;A:3"      (then EOS)
    answer    "3"

Why this shape: every token depends only on tokens a fixed distance back (the line above, or the prompt,
whose length is fixed), so a ~1M-parameter model learns it in minutes of CPU, yet the answer still needs
the whole chain: there is no shortcut from the question to the answer. The output is 8 tokens per line
plus 4 (with EOS), so its length spreads by a factor of several across problems, like real chains of
thought. The final answer is the number after the last "A:".

Training chains contain deliberate slips (`noisy_solution`): each line's result is wrong with probability
SLIP_PROB and the chain carries on from the wrong value, as a real model's arithmetic slip does. A model
fitted to that data samples slips at temperature 1 (so per-sample accuracy falls with chain length) while
its slips scatter over the nine wrong digits (so majority voting recovers the right one). References are
exact.

Splits are fixed by a stable hash of the question text, independent of any seed: a question belongs to
exactly one of train / val / test, so held-out sets can never leak into training. The question space has
9,000 members (about 900 in test).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MODULUS = 10
MIN_STEPS = 1
MAX_STEPS = 9
SLIP_PROB = 0.1
SPLITS = ("train", "val", "test")
_TEST_BUCKETS = range(0, 10)   # 10 % of the question space
_VAL_BUCKETS = range(10, 15)   # 5 %
_ANSWER_RE = re.compile(r"A:(\d+)")
_QUESTION_RE = re.compile(r"^Q:(\d),(\d),(\d),n([1-9])=$")


@dataclass(frozen=True)
class WorldProblem:
    question: str  # the prompt text the model is given, e.g. "Q:2,7,4,n4="
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


def _parse(question: str) -> tuple[int, int, int, int]:
    m = _QUESTION_RE.match(question)
    if not m or not MIN_STEPS <= int(m.group(4)) <= MAX_STEPS:
        raise ValueError(f"not a miniworld question: {question!r}")
    return tuple(int(g) for g in m.groups())


def _chain(question: str, rng: random.Random | None, slip: float) -> tuple[str, int, int]:
    p, q, r, n = _parse(question)
    lines = []
    for left in range(n - 1, -1, -1):
        z = (r + p) % MODULUS
        if rng is not None and rng.random() < slip:
            z = (z + rng.randint(1, MODULUS - 1)) % MODULUS  # a slip lands on any other digit
        lines.append(f"{left}:{r}+{p}={z}")
        p, q, r = q, r, z
    lines.append(f"A:{r}")
    return ";".join(lines), r, n


def solve(question: str) -> WorldProblem:
    """The exact chain of thought and answer for a question string."""
    solution, answer, steps = _chain(question, None, 0.0)
    return WorldProblem(question, solution, str(answer), steps)


def noisy_solution(question: str, rng: random.Random, slip: float = SLIP_PROB) -> str:
    """A chain of thought for training in which each line's result slips with probability `slip`."""
    return _chain(question, rng, slip)[0]


def random_problem(rng: random.Random, steps: int | None = None) -> WorldProblem:
    """One problem with `steps` lines (uniform in MIN_STEPS..MAX_STEPS when None)."""
    if steps is None:
        steps = rng.randint(MIN_STEPS, MAX_STEPS)
    x, y, z = (rng.randrange(MODULUS) for _ in range(3))
    return solve(f"Q:{x},{y},{z},n{steps}=")


def iter_split(split: str, seed: int) -> Iterator[WorldProblem]:
    """Endless stream of problems of one split (with repeats possible), reproducible from `seed`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"miniworld:{split}:{seed}")
    while True:
        p = random_problem(rng)
        if split_of(p.question) == split:
            yield p


@functools.lru_cache(maxsize=None)
def split_questions(split: str) -> tuple[str, ...]:
    """Every question of a split, in a fixed order (the whole space is only 9,000 questions)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    every = (f"Q:{x},{y},{z},n{n}=" for n in range(MIN_STEPS, MAX_STEPS + 1)
             for x in range(MODULUS) for y in range(MODULUS) for z in range(MODULUS))
    return tuple(q for q in every if split_of(q) == split)


def make_problems(n: int, seed: int = 0, split: str = "test") -> list[dict]:
    """`n` distinct problems of a split as dicts {problem_id, question, reference, steps, solution}."""
    pool = split_questions(split)
    if not 0 <= n <= len(pool):
        raise ValueError(f"the {split} split has {len(pool)} distinct problems; cannot draw {n}")
    out = []
    for i, q in enumerate(random.Random(f"miniworld:{split}:{seed}").sample(pool, n)):
        p = solve(q)
        out.append({"problem_id": f"miniworld/{split}/s{seed}/{i}", "question": q, "reference": p.answer,
                    "steps": p.steps, "solution": p.solution})
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

    ap = argparse.ArgumentParser(prog="python -m planner.demo.miniworld.task",
                                 description="Write a held-out miniworld problem set as MATH-500-style JSONL.")
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=SPLITS, default="test")
    a = ap.parse_args(argv)
    from planner.errors import PlannerError

    try:
        path = write_jsonl(a.out, make_problems(a.n, a.seed, a.split))
    except (ValueError, PlannerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.n} {a.split} problems to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
