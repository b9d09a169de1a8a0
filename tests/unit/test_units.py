"""Duration parsing: values checked against hand arithmetic, hostile inputs refused with one clear message,
and the scanner's work linear in its input (checked on the result for huge inputs, not with a timer)."""

import math

import pytest

from planner.errors import PlannerError
from planner.units import MAX_CHARS, _split, format_duration, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("60s", 60), ("500ms", 0.5), ("1.5m", 90), ("2", 2), (" 3 s", 3), ("1h", 3600), (7, 7.0), ("2min", 120),
    (".5s", 0.5), ("5.", 5.0), ("1e3ms", 1.0), ("+2s", 2.0), ("1E2", 100.0), ("5 MS", 0.005), ("250us", 250e-6),
    ("2.5e-1min", 15.0), ("10sec", 10.0), (0.25, 0.25)])
def test_parse_duration_values(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text,needle", [
    ("", "cannot parse"), ("abc", "cannot parse"), ("5 parsecs", "cannot parse"), ("nan", "cannot parse"),
    ("inf", "cannot parse"), ("-inf", "cannot parse"), ("1e", "cannot parse"), (".", "cannot parse"),
    ("1..2", "cannot parse"), ("e5", "cannot parse"), ("1_000", "cannot parse"), ("\u0663s", "cannot parse"),
    ("-1s", "must be positive"), ("-5s", "must be positive"), ("- 2", "must be positive"), ("0", "must be positive"),
    ("0.0ms", "must be positive"), ("1e400", "out of range"), ("1e-9", "out of range"), ("2e7s", "out of range"),
    (True, "expected a duration"), (float("nan"), "must be a number"), (float("inf"), "out of range"),
    (-3, "must be positive")])
def test_parse_duration_rejects(text, needle):
    with pytest.raises(PlannerError, match=needle):
        parse_duration(text)


def test_field_name_is_in_the_message():
    with pytest.raises(PlannerError, match=r"^--deadline must be positive"):
        parse_duration("-5s", field="--deadline")


def test_twenty_thousand_digits_refused_by_length():
    with pytest.raises(PlannerError, match=f"20001 characters long \\(at most {MAX_CHARS}\\)"):
        parse_duration("1" * 20000 + "s")


def test_scanner_splits_huge_inputs_exactly():
    # the scan itself is one pass: the split of 10^6 digits (+ a fraction and an exponent) is exact
    digits = "7" * 1_000_000
    assert _split(digits + "x") == (digits, "x")
    assert _split(digits + "." + digits + "e+12ms") == (digits + "." + digits + "e+12", "ms")
    assert _split("." * 100_000) is None
    assert _split("1" + "e" * 100_000) == ("1", "e" * 100_000)


def test_longest_accepted_text_parses():
    text = "0" * (MAX_CHARS - 2) + "1s"
    assert parse_duration(text) == 1.0


@pytest.mark.parametrize("seconds,text", [(0.25, "250 ms"), (5, "5.00 s"), (600, "10.0 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
    assert math.isclose(parse_duration(text.replace(" ", "")), seconds, rel_tol=1e-9)
