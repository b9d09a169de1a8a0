"""Problems to run: the bundled MATH-500 copy or any JSONL file, plus the prompt wording.

Why: `planner run` / `planner eval` and the calibration stage must ask the model the same way and read the
same reference answers, so measured accuracy matches what the planner predicts. Field names of common
datasets are accepted (problem/question, answer/reference/gt, unique_id/problem_id/id/idx). Rows are checked
here (text, not numbers or objects; ids that are strings or integers; bounded sizes; a finite numeric answer), so a
bad row is one error naming its row and field instead of a wrong grade or a traceback mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planner import checks
from planner.errors import PlannerError
from planner.io import iter_jsonl

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUILTIN = {"math500": DATA_DIR / "math500.jsonl"}
MAX_QUESTION_CHARS = 1_000_000  # a prompt longer than this is not a problem statement
MAX_FIELD_CHARS = 100_000        # ids and reference answers
MAX_PROBLEMS = 10_000_000
MATH_PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."


@dataclass
class DatasetProblem:
    problem_id: str
    question: str
    reference: str | None = None


def _field(row: dict, keys: tuple[str, ...]) -> tuple[str | None, object]:
    for k in keys:
        if row.get(k) is not None:
            return k, row[k]
    return None, None


def _text(value, where: str, *, ints: bool) -> str:
    """An id or reference: a string, or an integer (ids) / finite number (references); never a bool, list or
    object (str() of those would grade against "[1, 2]" or "True")."""
    if isinstance(value, str):
        return checks.string(value, where, max_len=MAX_FIELD_CHARS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (ints and isinstance(value, float)):
        kind = "a string or an integer" if ints else "a string or a number"
        checks.fail(where, f"must be {kind}, got {type(value).__name__} {str(value)[:40]}")
    v = checks.integer(value, where) if ints else checks.number(value, where)
    return str(value) if ints or not float(v).is_integer() else str(int(v))  # 3.0 grades as "3"


def _row(row: dict, n: int, where: str) -> DatasetProblem:
    key, q = _field(row, ("problem", "question", "prompt"))
    if key is None or isinstance(q, str) and not q.strip():
        raise PlannerError(f"{where}: row {n} has no problem/question text")
    checks.string(q, f"{where}: row {n}: {key}", max_len=MAX_QUESTION_CHARS)
    key, pid = _field(row, ("unique_id", "problem_id", "id", "idx"))
    key_r, ref = _field(row, ("answer", "reference", "gt"))
    return DatasetProblem(str(n - 1) if key is None else _text(pid, f"{where}: row {n}: {key}", ints=True), q,
                   None if key_r is None else _text(ref, f"{where}: row {n}: {key_r}", ints=False))


def load_problems(name_or_path: str, limit: int | None = None) -> list[DatasetProblem]:
    """Problems of a bundled dataset (`math500`) or a JSONL file; PlannerError if none."""
    if limit is not None:
        checks.integer(limit, "--limit", lo=1, hi=MAX_PROBLEMS)
    path = BUILTIN.get(name_or_path, Path(name_or_path))
    if name_or_path not in BUILTIN:
        try:
            exists = path.exists()
        except OSError:
            exists = True  # e.g. a name too long: iter_jsonl says so in one line
        if not exists:
            raise PlannerError(f"dataset not found: {name_or_path} (use {', '.join(BUILTIN)} or a JSONL file)")
    out: list[DatasetProblem] = []
    for n, row in enumerate(iter_jsonl(path, "dataset"), 1):
        out.append(_row(row, n, f"dataset {path}"))
        if limit is not None and len(out) >= limit:
            break
        if len(out) > MAX_PROBLEMS:
            raise PlannerError(f"dataset {path} has more than {MAX_PROBLEMS} problems; use --limit")
    if not out:
        raise PlannerError(f"dataset {name_or_path} is empty")
    return out


def format_prompt(question: str, template: str = MATH_PROMPT) -> str:
    return template.format(question=question)
