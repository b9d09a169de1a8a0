"""Sample bank `tts-bank/1`: per problem, M sampled answers with correctness, length and optional reward score.

On disk: JSONL, one problem per line
  {"problem_id": str, "question": str?, "reference": str?,
   "samples": [{"answer": str|null, "correct": bool, "num_tokens": int, "score": float|null}, ...],
   "scorer": {"kind", "model", "aggregation", "transform", ...}?}   (planner/scoring.py; the same on every line)
In memory: flat per-sample arrays plus CSR offsets, so estimators can slice one problem without copying and
vectorise over samples. Answer classes are precomputed per problem: 0 = the correct class (all correct samples,
whatever their strings), 1.. = one class per distinct wrong answer string, -1 = no answer (abstains).
Other formats are read by their importers (bank_qwen_math.py) through this module's line reader."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from planner.checks import ABSURD, dumps_json, loads_json
from planner.errors import PlannerError
from planner.io import atomic_write_text, iter_jsonl, read_text
from planner.scoring import ScorerConfig

SCHEMA = "tts-bank/1"
FORMATS = ("tts-bank", "qwen-math")
MAX_SAMPLE_TOKENS = 10_000_000  # one sample longer than this is a corrupt count, not a generation


@dataclass(frozen=True)
class Sample:
    answer: str | None
    correct: bool
    num_tokens: int
    score: float | None = None


@dataclass(frozen=True)
class BankProblem:
    problem_id: str
    samples: tuple[Sample, ...]
    question: str | None = None
    reference: str | None = None


@dataclass(frozen=True, eq=False)
class Bank:
    """A validated sample bank as flat arrays. Problem p owns samples offsets[p]:offsets[p+1]."""

    problem_ids: tuple[str, ...]
    questions: tuple[str | None, ...]
    references: tuple[str | None, ...]
    offsets: np.ndarray      # (P+1,) int
    answers: tuple[str | None, ...]
    correct: np.ndarray      # (S,) bool
    num_tokens: np.ndarray   # (S,) int
    scores: np.ndarray       # (S,) float, nan where missing
    class_ids: np.ndarray    # (S,) int: 0 correct, 1.. wrong answer classes (per problem), -1 no answer
    meta: dict = field(default_factory=dict)  # format, source, num_tokens_estimated, scorer (ScorerConfig dict)

    @property
    def num_problems(self) -> int:
        return len(self.problem_ids)

    @property
    def num_samples(self) -> int:
        return int(self.offsets[-1])

    @property
    def sizes(self) -> np.ndarray:
        """M per problem."""
        return np.diff(self.offsets)

    @property
    def answered(self) -> np.ndarray:
        """Samples that can vote or be selected: a correct sample or one with an extracted answer."""
        return self.class_ids >= 0

    @property
    def has_scores(self) -> bool:
        return bool(np.all(np.isfinite(self.scores)))

    def span(self, p: int) -> slice:
        return slice(int(self.offsets[p]), int(self.offsets[p + 1]))

    def problems(self) -> list[BankProblem]:
        out = []
        for p, pid in enumerate(self.problem_ids):
            sl = self.span(p)
            samples = tuple(
                Sample(a, bool(c), int(n), None if math.isnan(s) else float(s))
                for a, c, n, s in zip(self.answers[sl], self.correct[sl], self.num_tokens[sl], self.scores[sl]))
            out.append(BankProblem(pid, samples, self.questions[p], self.references[p]))
        return out

    @staticmethod
    def from_problems(problems: Iterable[BankProblem], meta: dict | None = None) -> "Bank":
        problems = list(problems)
        if not problems:
            raise PlannerError("sample bank has no problems")
        offsets = np.zeros(len(problems) + 1, dtype=np.int64)
        answers: list[str | None] = []
        correct, tokens, scores, classes = [], [], [], []
        for p, prob in enumerate(problems):
            if not prob.samples:
                raise PlannerError(f"sample bank: problem {prob.problem_id!r} has no samples")
            offsets[p + 1] = offsets[p] + len(prob.samples)
            wrong_ids: dict[str, int] = {}
            for s in prob.samples:
                answers.append(s.answer)
                correct.append(bool(s.correct))
                tokens.append(int(s.num_tokens))
                scores.append(np.nan if s.score is None else float(s.score))
                if s.correct:
                    classes.append(0)
                elif s.answer is None:
                    classes.append(-1)
                else:
                    classes.append(wrong_ids.setdefault(s.answer, len(wrong_ids) + 1))
        return Bank(tuple(p.problem_id for p in problems), tuple(p.question for p in problems),
                    tuple(p.reference for p in problems), offsets, tuple(answers),
                    np.array(correct, dtype=bool), np.array(tokens, dtype=np.int64),
                    np.array(scores, dtype=float), np.array(classes, dtype=np.int64), dict(meta or {}))

    def summary(self) -> dict:
        return {"problems": self.num_problems, "samples": self.num_samples,
                "samples_per_problem": sorted(set(int(m) for m in self.sizes)),
                "mean_accuracy": float(np.mean([self.correct[self.span(p)].mean()
                                                for p in range(self.num_problems)])),
                "has_scores": self.has_scores, **self.meta}


class LineError(Exception):
    """What is wrong with one line; read_lines prefixes the file and line number."""


def parse_sample(d: Any, i: int) -> Sample:
    """One validated sample (the importers of other formats build the same dict and call this too)."""
    where = f"samples[{i}]"
    if not isinstance(d, dict):
        raise LineError(f"{where} must be a JSON object")
    for key in ("answer", "correct", "num_tokens"):
        if key not in d:
            raise LineError(f"{where}.{key} is missing")
    ans, ok, n, score = d["answer"], d["correct"], d["num_tokens"], d.get("score")
    if ans is not None and not isinstance(ans, str):
        raise LineError(f"{where}.answer must be a string or null, got {ans!r}")
    if not isinstance(ok, bool):
        raise LineError(f"{where}.correct must be true or false, got {ok!r}")
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n != int(n) or n < 0:
        raise LineError(f"{where}.num_tokens must be a non-negative integer, got {n!r}")
    if n > MAX_SAMPLE_TOKENS:
        raise LineError(f"{where}.num_tokens must be at most {MAX_SAMPLE_TOKENS}, got {n:.3g} (a corrupt count)")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or not math.isfinite(score) or abs(score) > ABSURD):
        raise LineError(f"{where}.score must be a finite number or null, got {score!r}")
    return Sample(ans, ok, int(n), None if score is None else float(score))


def _problem(d: dict, scorers: dict | None = None) -> BankProblem:
    if "schema" in d and d["schema"] != SCHEMA:
        raise LineError(f"schema is {d['schema']!r}; this planner reads {SCHEMA!r}")
    pid = d.get("problem_id")
    if not isinstance(pid, str) or not pid:
        raise LineError(f"problem_id must be a non-empty string, got {pid!r}")
    for key in ("question", "reference"):
        if d.get(key) is not None and not isinstance(d[key], str):
            raise LineError(f"{key} must be a string or null")
    samples = d.get("samples")
    if not isinstance(samples, list) or not samples:
        raise LineError("samples must be a non-empty list")
    if scorers is not None:   # which scorer wrote the scores: one spec for the whole bank
        try:
            spec = None if d.get("scorer") is None else ScorerConfig.from_dict(d["scorer"]).to_dict()
        except PlannerError as e:
            raise LineError(str(e)) from None
        scorers.setdefault("scorer", spec)
        if spec != scorers["scorer"]:
            raise LineError(f"scorer {spec} differs from the first line's {scorers['scorer']}: a bank's scores "
                             "come from one scorer")
    return BankProblem(pid, tuple(parse_sample(s, i) for i, s in enumerate(samples)), d.get("question"),
                   d.get("reference"))


def read_lines(path: Path, what: str, parse) -> list[BankProblem]:
    """A JSONL bank of any format: `parse(obj) -> BankProblem` per line, strict JSON, unique problem ids."""
    problems, seen = [], {}
    text = read_text(path, what)  # says what a missing, special, huge or non-UTF-8 file is
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    for lineno, line in numbered:
        try:  # strict: no NaN/Infinity, no overflowing numbers, no duplicate keys, bounded depth
            obj = loads_json(line, "line")
        except PlannerError as e:
            msg = str(e).removeprefix("line ").replace("is not valid JSON (line 1, ", "is not valid JSON (")
            raise PlannerError(f"{what} {path}: line {lineno} {msg}") from None
        try:
            if not isinstance(obj, dict):
                raise LineError("is not a JSON object")
            prob = parse(obj)
        except LineError as e:
            raise PlannerError(f"{what} {path}: line {lineno}: {e}") from None
        if prob.problem_id in seen:
            raise PlannerError(f"{what} {path}: line {lineno}: problem_id {prob.problem_id!r} already on line "
                               f"{seen[prob.problem_id]}")
        seen[prob.problem_id] = lineno
        problems.append(prob)
    if not problems:
        raise PlannerError(f"{what} {path} holds no problems")
    return problems


def load_bank(path: str | Path, fmt: str = "tts-bank") -> Bank:
    """Read a bank file; `fmt` is "tts-bank" (this project's schema) or "qwen-math" (see import_qwen_math)."""
    path = Path(path)
    if fmt == "tts-bank":
        scorers: dict = {}
        problems = read_lines(path, "sample bank", lambda d: _problem(d, scorers))
        meta = {"format": "tts-bank", "source": str(path), "num_tokens_estimated": False}
        return Bank.from_problems(problems, meta | ({"scorer": scorers["scorer"]} if scorers.get("scorer") else {}))
    if fmt == "qwen-math":
        from planner.accuracy.bank_qwen_math import import_qwen_math  # lazy: that module reads lines through this one

        return import_qwen_math(path)
    raise PlannerError(f"unknown sample-bank format {fmt!r}; use one of {', '.join(FORMATS)}")


def bank_to_jsonl(bank: Bank) -> str:
    lines = []
    for prob in bank.problems():
        d: dict[str, Any] = {"problem_id": prob.problem_id}
        if prob.question is not None:
            d["question"] = prob.question
        if prob.reference is not None:
            d["reference"] = prob.reference
        d["samples"] = [{"answer": s.answer, "correct": s.correct, "num_tokens": s.num_tokens, "score": s.score}
                        for s in prob.samples]
        if bank.meta.get("scorer"):
            d["scorer"] = bank.meta["scorer"]
        lines.append(dumps_json(d, "sample bank", ensure_ascii=False))
    return "\n".join(lines) + "\n"


def save_bank(bank: Bank, path: str | Path) -> Path:
    """Atomic write in `tts-bank/1` JSONL."""
    return atomic_write_text(path, bank_to_jsonl(bank))
