"""Final-answer extraction and equivalence (math-verify) for voting and grading.

Why: self-consistency votes over *answers*, not texts, so "\\boxed{\\frac12}", "The answer is 1/2." and
"0.5" must land in the same group, and grading against a reference must use the same notion of equality.
Extraction is rule-based (last \\boxed{}/\\fbox{}, "final answer is …", "Answer: …", "#### …", then the last
number as a fallback); equivalence uses math-verify's symbolic comparison, with a fast string path first.
Without math-verify (a light install) equivalent forms compare unequal, so votes split and grades undercount:
that is said once per process on stderr, naming what to install, never silently.
"""

from __future__ import annotations

import re
import sys
import threading

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_BARE = re.compile(r"\\boxed\s+([^\s$]+)")
_PHRASES = [
    re.compile(r"final answer is[:\s]*\$?(.+?)\$?(?:\.\s|\.$|\n|$)", re.I),
    re.compile(r"the answer is[:\s]*\$?(.+?)\$?(?:\.\s|\.$|\n|$)", re.I),
    re.compile(r"^\s*answer\s*[:：]\s*\$?(.+?)\$?\s*$", re.I | re.M),
    re.compile(r"####\s*(.+?)\s*$", re.M),
]
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")


def _braced(text: str, open_brace: int) -> str | None:
    """Content of the {...} group whose '{' is at text[open_brace - 1], braces balanced; None if unclosed."""
    depth, i = 1, open_brace
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace:i]
        i += 1
    return None


def extract_answer(text: str | None, fallback_last_number: bool = True) -> str | None:
    """The final answer of a solution text, or None when there is none."""
    if not text:
        return None
    boxes = [m.end() for m in _BOX.finditer(text)]
    for start in reversed(boxes):
        inner = _braced(text, start)
        if inner is not None and inner.strip():
            return normalize(inner)
    bare = _BOX_BARE.findall(text)
    if bare:
        return normalize(bare[-1])
    for pat in _PHRASES:
        found = pat.findall(text)
        if found and found[-1].strip():
            return normalize(found[-1])
    if fallback_last_number:
        nums = _NUMBER.findall(text)
        if nums:
            return normalize(nums[-1])
    return None


def normalize(ans: str) -> str:
    """Light canonical form for string comparison (math-verify handles real equivalence)."""
    s = ans.strip()
    s = re.sub(r"\\(?:left|right|!|,|;|:|displaystyle)", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("$", "")
    s = re.sub(r"\\text\{\s*([^{}]*?)\s*\}", r"\1", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = s.rstrip(".").strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    return s


MISSING_NOTE = ("planner: note: math-verify is not installed: answers are compared as normalised strings only "
                "(\\frac12 and 0.5 count as different), so votes split and grades undercount; install it with "
                'pip install "math-verify>=0.7" (part of the engine extra: pip install ".[engine]")')
_noted = False


def _note_missing() -> None:
    global _noted
    if not _noted:
        _noted = True
        print(MISSING_NOTE, file=sys.stderr, flush=True)


class Equivalence:
    """Cached math-verify comparisons. math-verify's timeouts use SIGALRM, which only works in the main
    thread; elsewhere they are disabled (answers are short, so a comparison cannot hang for long)."""

    def __init__(self):
        self._parsed: dict[str, object] = {}
        self._eq: dict[tuple[str, str], bool] = {}
        try:
            import math_verify  # noqa: F401
            self.available = True
        except ImportError:
            self.available = False
            _note_missing()

    def _timeout(self):
        return 5 if threading.current_thread() is threading.main_thread() else None

    def parse(self, ans: str):
        if ans not in self._parsed:
            from math_verify import parse

            try:
                self._parsed[ans] = parse("$" + ans + "$", parsing_timeout=self._timeout())
            except Exception:  # noqa: BLE001 - unparsable answers fall back to string equality
                self._parsed[ans] = []
        return self._parsed[ans]

    def same(self, a: str | None, b: str | None) -> bool:
        if a is None or b is None:
            return False
        if a == b or normalize(a) == normalize(b):
            return True
        if not self.available:
            return False
        key = (a, b) if a <= b else (b, a)
        if key not in self._eq:
            from math_verify import verify

            pa, pb = self.parse(key[0]), self.parse(key[1])
            try:
                ok = bool(pa) and bool(pb) and (verify(pa, pb, timeout_seconds=self._timeout())
                                               or verify(pb, pa, timeout_seconds=self._timeout()))
            except Exception:  # noqa: BLE001
                ok = False
            self._eq[key] = ok
        return self._eq[key]


def is_correct(answer: str | None, reference: str | None, eq: Equivalence | None = None) -> bool | None:
    """Grade an extracted answer against a reference answer (None when there is no reference)."""
    if reference is None:
        return None
    if answer is None:
        return False
    return (eq or Equivalence()).same(normalize(reference), answer)
