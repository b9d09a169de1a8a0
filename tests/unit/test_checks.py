"""planner.checks: each validator against hand-picked values on both sides of its boundaries, the strict JSON
reader against json.loads on valid input, and the NaN guard against json.dumps' own refusal."""

import json

import pytest

from planner import checks
from planner.errors import PlannerError


@pytest.mark.parametrize("value,kw,expected", [
    (3, {}, 3.0), (2.5, {"lo": 0, "hi": 3}, 2.5), (0, {"lo": 0}, 0.0), (1e15, {}, 1e15), (-1e15, {}, -1e15),
    (1e20, {"lo": 0, "hi": 1e30}, 1e20), (None, {"default": 7}, 7)])
def test_number_accepts(value, kw, expected):
    assert checks.number(value, "f", **kw) == expected


@pytest.mark.parametrize("value,kw,needle", [
    (float("nan"), {}, "f: must be a finite number, got nan"), (float("inf"), {}, "finite"),
    (True, {}, "must be a number, got bool True"), ("1", {}, "got str '1'"), ([1], {}, "got list"),
    (None, {}, "f: is missing"), (1.5e15, {}, "absurdly large"), (-2e15, {}, "absurdly large"),
    (0, {"lo": 0, "lo_open": True}, "must be > 0, got 0"), (1, {"lo": 0, "hi": 1, "hi_open": True}, "in [0, 1)"),
    (5, {"hi": 4}, "must be <= 4, got 5"), (10**400, {}, "absurdly large")])
def test_number_rejects(value, kw, needle):
    with pytest.raises(PlannerError, match=needle.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        checks.number(value, "f", **kw)


def test_integer_and_friends():
    assert checks.integer(4096.0, "m.hidden") == 4096 and isinstance(checks.integer(4096.0, "m.hidden"), int)
    for bad, needle in [(True, "bool"), (1.5, "1.5"), ("8", "str"), (float("nan"), "nan"), (0, ">= 1")]:
        with pytest.raises(PlannerError, match=f"^profile.model.layers: .*{needle}"):
            checks.integer(bad, "profile.model.layers", lo=1)
    assert checks.positive(0.5, "x") == 0.5
    with pytest.raises(PlannerError, match="x: must be > 0"):
        checks.positive(0, "x")
    assert checks.string("a", "s", choices=("a", "b")) == "a"
    with pytest.raises(PlannerError, match="must be one of a, b"):
        checks.string("c", "s", choices=("a", "b"))
    with pytest.raises(PlannerError, match="5000 characters long"):
        checks.string("x" * 5000, "s")
    assert checks.boolean(False, "b") is False
    with pytest.raises(PlannerError, match="true or false"):
        checks.boolean(0, "b")


def test_flag_types():
    q = checks.flag_number("--quantile", lo=0, hi=1, lo_open=True, hi_open=True)
    assert q(" 0.9 ") == 0.9
    n = checks.flag_number("--branches", integer_=True, lo=1, hi=256)
    assert n("16") == 16
    for bad in ("0", "257", "1.0", "\u0663", "", "1" * 100, "nan"):
        with pytest.raises(PlannerError, match="^--branches: "):
            n(bad)
    assert checks.flag_duration("--deadline")("1.5m") == 90.0


@pytest.mark.parametrize("text", ['{"a": [1, 2.5, {"b": null, "c": "x"}], "d": true}', "[]", '"s"', "-0.0",
                                  '{"big": 123456789012345678901234567890}', '[1e308, -1e-308]'])
def test_loads_json_equals_json_on_valid_input(text):
    assert checks.loads_json(text) == json.loads(text)


def test_depth_is_iterative_and_exact():
    assert checks.depth(1) == 0 and checks.depth([]) == 1 and checks.depth({"a": [{"b": []}]}) == 4
    deep = []
    for _ in range(100_000):  # far beyond the recursion limit
        deep = [deep]
    assert checks.depth(deep) == 100_001
    assert checks.loads_json("[" * 64 + "]" * 64) is not None
    with pytest.raises(PlannerError, match="at most 64 levels"):
        checks.loads_json("[" * 65 + "]" * 65)


def test_find_nonfinite_and_dumps():
    obj = {"a": 1, "b": [0.5, {"c": float("nan")}], "d": float("inf")}
    assert checks.find_nonfinite(obj) == "b[1].c"
    assert checks.find_nonfinite({"ok": [1.0, 2]}) is None
    with pytest.raises(ValueError):  # the oracle: the standard library refuses too
        json.dumps(obj, allow_nan=False)
    with pytest.raises(PlannerError, match=r"refusing to write out.json: b\[1\]\.c is not a finite number"):
        checks.dumps_json(obj, "out.json")
    good = {"x": [1.0, -2.5e-300], "y": "z"}
    assert json.loads(checks.dumps_json(good)) == good
