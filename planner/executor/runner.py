"""Solve one problem end to end: N branches under a deadline → answers → vote → graded record.

Why one function for both commands: `planner run` (one answer per problem, with early stop and deadline)
and `planner eval` (a sample bank: every branch kept) must extract, group and grade answers identically,
or the accuracy the planner predicts from a bank would not be the accuracy `run` delivers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from planner.executor.answers import Equivalence, extract_answer, is_correct
from planner.executor.backends import Backend, BranchOutput
from planner.executor.datasets import MATH_PROMPT, DatasetProblem, format_prompt
from planner.executor.deadline import Deadline
from planner.executor.scorers import Scorer
from planner.executor.voting import Ballot


@dataclass
class RunSettings:
    branches: int
    method: str = "majority"            # majority | weighted_majority | best_of_n
    deadline_s: float | None = None
    early_stop: bool = True
    scorer: Scorer | None = None
    template: str = MATH_PROMPT
    seed: int = 0


def _answer(b: BranchOutput) -> str | None:
    """A completed branch's final answer. A branch cut by max_tokens only counts an explicit answer (boxed or
    "the answer is"), not the last number of an unfinished derivation; cut/cancelled branches have none."""
    if not b.completed:
        return None
    return extract_answer(b.text, fallback_last_number=b.finish_reason != "length")


def solve(problem: DatasetProblem, backend: Backend, s: RunSettings, eq: Equivalence | None = None,
          predicted: dict | None = None, index: int = 0) -> dict:
    """Run one problem and return its JSON-able record (see docs/executor.md for the fields)."""
    eq = eq or Equivalence()
    if s.method != "majority" and s.scorer is None:
        raise ValueError(f"method {s.method} needs a scorer")
    scorer = s.scorer
    ballot = Ballot(s.method, eq, scorer.max_score if scorer else None, scorer.transform if scorer else "raw")
    finished: set[int] = set()
    scores: dict[int, float] = {}       # branch -> score, each answer scored once
    deadline = Deadline(s.deadline_s)
    # a batched scorer (a reward model) scores the problem's answers in one forward once all have finished, so
    # weighted voting and best-of-N cannot stop early with it; majority votes as branches finish
    later = scorer is not None and scorer.batched

    def on_finish(b: BranchOutput) -> bool:
        finished.add(b.index)
        if later and s.method != "majority":
            return False
        if scorer is not None and not later:
            scores[b.index] = scorer.score(problem.question, b.text, b.num_tokens, b.logprob)
        ballot.add(b.index, _answer(b), scores.get(b.index))
        remaining = s.branches - len(finished)
        return s.early_stop and remaining > 0 and ballot.decided(remaining)

    res = backend.generate(format_prompt(problem.question, s.template), s.branches, deadline, on_finish,
                           seed=s.seed + 1000003 * index)
    for b in res.branches:  # branches the backend finished without a callback (e.g. callback not supported)
        if b.completed and b.index not in finished:
            on_finish(b)
    scoring_s = 0.0
    if later:   # the reward model's time is part of the request's latency (the user waits for the vote)
        done = sorted((b for b in res.branches if b.completed), key=lambda b: b.index)
        t0 = time.perf_counter()
        scores.update(zip((b.index for b in done),
                          scorer.score_many(problem.question, [(b.text, b.num_tokens, b.logprob) for b in done])))
        scoring_s = time.perf_counter() - t0
        if s.method != "majority":
            for b in done:
                ballot.add(b.index, _answer(b), scores[b.index])
    vote = ballot.result()
    rows = []
    for b in res.branches:
        ans = _answer(b)
        rows.append({"index": b.index, "answer": ans, "correct": is_correct(ans, problem.reference, eq),
                     "num_tokens": b.num_tokens, "finish_reason": b.finish_reason, "finish_s": round(b.finish_s, 4),
                     "score": scores.get(b.index) if b.completed else None})
    cut = [b.index for b in res.branches if b.finish_reason == "deadline"]
    return {
        "problem_id": problem.problem_id,
        "reference": problem.reference,
        "answer": vote.answer,
        "correct": is_correct(vote.answer, problem.reference, eq),
        "votes": vote.table(),
        "voters": vote.voters,
        "method": s.method,
        "latency_s": round(res.latency_s + scoring_s, 4),
        "scoring_s": round(scoring_s, 4),
        "deadline_s": s.deadline_s,
        "met_deadline": s.deadline_s is None or res.latency_s + scoring_s <= s.deadline_s,
        "stopped_by": res.stopped_by,
        "cut_branches": cut,
        "num_tokens": sum(b.num_tokens for b in res.branches),
        "prompt_tokens": res.prompt_tokens,
        "branches": rows,
        "engine": res.info,
        "predicted": predicted,
    }


def bank_entry(problem: DatasetProblem, record: dict) -> dict:
    """The record as one line of a `tts-bank/1` sample bank (every branch is a sample)."""
    return {"problem_id": problem.problem_id, "question": problem.question, "reference": problem.reference,
            "samples": [{"answer": r["answer"], "correct": bool(r["correct"]), "num_tokens": r["num_tokens"],
                         "score": r["score"]} for r in record["branches"]]}
