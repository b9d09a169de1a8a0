"""Problems to run: the bundled MATH-500 copy or any JSONL file, plus the prompt wording.

Why: `planner run` / `planner eval` and the calibration stage must ask the model the same way and read the
same reference answers, so measured accuracy matches what the planner predicts. Field names of common
datasets are accepted (problem/question, answer/reference/gt, unique_id/problem_id/id/idx).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planner.errors import PlannerError
from planner.io import iter_jsonl

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUILTIN = {"math500": DATA_DIR / "math500.jsonl"}
MATH_PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."


@dataclass
class Problem:
    problem_id: str
    question: str
    reference: str | None = None


def _first(d: dict, keys: tuple[str, ...]):
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def load_problems(name_or_path: str, limit: int | None = None) -> list[Problem]:
    """Problems of a bundled dataset (`math500`) or a JSONL file; PlannerError if none."""
    path = BUILTIN.get(name_or_path, Path(name_or_path))
    if name_or_path not in BUILTIN and not path.is_file():
        raise PlannerError(f"dataset not found: {name_or_path} (use {', '.join(BUILTIN)} or a JSONL file)")
    out: list[Problem] = []
    for i, row in enumerate(iter_jsonl(path, "dataset")):
        q = _first(row, ("problem", "question", "prompt"))
        if not isinstance(q, str) or not q.strip():
            raise PlannerError(f"dataset {path}: line {i + 1} has no problem/question text")
        pid = _first(row, ("unique_id", "problem_id", "id", "idx"))
        ref = _first(row, ("answer", "reference", "gt"))
        out.append(Problem(str(pid) if pid is not None else str(i), q, None if ref is None else str(ref)))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise PlannerError(f"dataset {name_or_path} is empty")
    return out


def format_prompt(question: str, template: str = MATH_PROMPT) -> str:
    return template.format(question=question)
