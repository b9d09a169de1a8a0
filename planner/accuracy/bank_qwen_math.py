"""Importer of QwenLM/Qwen2.5-Math evaluation output (`evaluation/data/eval_rm_maj_example/*.jsonl`) into a bank.

Why its own module: a foreign format with its own field names and a token-count estimate, read through the bank's
one line reader and sample validator (planner/accuracy/bank.py), so both formats fail the same way."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from planner.accuracy.bank import Bank, BankProblem, LineError, parse_sample, read_lines
from planner.checks import ABSURD

CHARS_PER_TOKEN = 3.5  # token count estimate when the file holds only text


def estimate_tokens(text: str) -> int:
    """Documented rule when a file holds no token counts: ceil(characters / 3.5), at least 1."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _reward(x: Any, where: str) -> float | None:
    """pred_score entries are [score] per sample (a list of step scores for PRMs): the last element is used."""
    if isinstance(x, list):
        if not x:
            return None
        x = x[-1]
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or abs(x) > ABSURD:
        raise LineError(f"{where} must be a number or a list of numbers, got {x!r}")
    return float(x)


def _qwen_problem(d: dict, flags: dict) -> BankProblem:
    if "idx" not in d:
        raise LineError("idx is missing")
    preds, oks = d.get("pred"), d.get("score")
    if not isinstance(preds, list) or not preds:
        raise LineError("pred must be a non-empty list of answers")
    m = len(preds)
    if not isinstance(oks, list) or len(oks) != m:
        raise LineError(f"score must be a list of {m} booleans (one per pred)")
    rewards: Sequence[Any] = d.get("pred_score") or [None] * m
    if not isinstance(rewards, list) or len(rewards) != m:
        raise LineError(f"pred_score must be a list of {m} entries (one per pred)")
    tokens = d.get("num_tokens")
    if tokens is None:
        texts = d.get("code") or d.get("response")
        if not isinstance(texts, list) or len(texts) != m or not all(isinstance(t, str) for t in texts):
            raise LineError(f"need num_tokens or code/response: a list of {m} strings")
        tokens = [estimate_tokens(t) for t in texts]
        flags["num_tokens_estimated"] = True
    elif not isinstance(tokens, list) or len(tokens) != m:
        raise LineError(f"num_tokens must be a list of {m} integers")
    samples = []
    for i in range(m):
        ans = preds[i]
        if ans is not None and not isinstance(ans, str):
            ans = str(ans)
        if not isinstance(oks[i], bool):
            raise LineError(f"score[{i}] must be true or false, got {oks[i]!r}")
        samples.append(parse_sample({"answer": ans if ans != "" else None, "correct": oks[i], "num_tokens": tokens[i],
                                "score": _reward(rewards[i], f"pred_score[{i}]")}, i))
    ref = d.get("gt", d.get("answer"))
    return BankProblem(str(d["idx"]), tuple(samples), d.get("question") if isinstance(d.get("question"), str) else None,
                   None if ref is None else str(ref))


def import_qwen_math(path: str | Path) -> Bank:
    """Qwen2.5-Math maj@k/RM@k example format: `idx`, `question`, `gt` (else `answer`), per-sample lists `pred`
    (extracted answers), `score` (correctness), `pred_score` ([reward] per sample) and `code` (generated text).
    The file has no token counts, so they are estimated from text length (meta num_tokens_estimated=True)."""
    path = Path(path)
    flags = {"format": "qwen-math", "source": str(path), "num_tokens_estimated": False}
    problems = read_lines(path, "qwen-math bank", lambda d: _qwen_problem(d, flags))
    if flags["num_tokens_estimated"]:
        flags["num_tokens_rule"] = f"ceil(chars / {CHARS_PER_TOKEN})"
    return Bank.from_problems(problems, flags)
