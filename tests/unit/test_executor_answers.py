"""Answer extraction, equivalence (math-verify) and grading, including all MATH-500 references."""

import pytest

from planner.executor.answers import Equivalence, extract_answer, is_correct, normalize


@pytest.mark.parametrize("text,expect", [
    ("so \\boxed{\\frac{1}{2}} yes", "\\frac{1}{2}"),
    ("x \\boxed{a{b}c} then finally \\boxed{5}", "5"),          # the last box wins
    ("nested \\boxed{\\sqrt{\\frac{3}{4}}}", "\\sqrt{\\frac{3}{4}}"),
    ("\\fbox{42}", "42"),
    ("\\boxed 9", "9"),
    ("The final answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("So the answer is 12.", "12"),
    ("Answer: 7", "7"),
    ("#### 1,234", "1234"),
    ("\\boxed{\\text{(C)}}", "(C)"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "( 3, \\frac{\\pi}{2} )"),
    ("we get 3 and then 4", "4"),                                  # last-number fallback
    ("no numbers here", None),
    ("", None),
    ("unclosed \\boxed{12", "12"),                                  # falls through to the last number
])
def test_extract_answer(text, expect):
    assert extract_answer(text) == expect


def test_fallback_can_be_disabled():
    assert extract_answer("we get 3 and then 4", fallback_last_number=False) is None
    assert extract_answer("thus \\boxed{4}", fallback_last_number=False) == "4"


def test_normalize_light_forms():
    assert normalize(" \\dfrac{1}{2}. ") == "\\frac{1}{2}"
    assert normalize("$10,000$") == "10000"
    assert normalize("\\text{ east }") == "east"


@pytest.mark.parametrize("a,b,same", [
    ("\\frac{1}{2}", "0.5", True),
    ("1/2", "\\frac12", True),
    ("3", "3.0", True),
    ("\\pi/2", "\\frac{\\pi}{2}", True),
    ("x^2+1", "1+x^2", True),
    ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("2", "3", False),
    ("\\frac{1}{3}", "0.33", False),
])
def test_equivalence(a, b, same):
    eq = Equivalence()
    assert eq.same(a, b) is same
    assert eq.same(b, a) is same   # symmetric (and cached both ways)


def test_equivalence_works_off_the_main_thread():
    import threading

    eq, out = Equivalence(), []
    t = threading.Thread(target=lambda: out.append(eq.same("\\frac{2}{4}", "0.5")))
    t.start()
    t.join()
    assert out == [True]


def test_is_correct_on_all_math500_references():
    from planner.executor.datasets import load_problems

    eq = Equivalence()
    probs = load_problems("math500")
    assert len(probs) == 500 and len({p.problem_id for p in probs}) == 500
    for p in probs:
        assert is_correct(extract_answer(f"Therefore \\boxed{{{p.reference}}}."), p.reference, eq), p.reference
    assert is_correct(None, "3") is False and is_correct("3", None) is None
    assert is_correct("4", "3", eq) is False
