"""Atomic writes and JSON/JSONL reading: failures are one PlannerError line, nothing half-written."""

import json

import pytest

from planner.errors import PlannerError
from planner.io import atomic_write_json, atomic_write_text, iter_jsonl, read_json
from planner.units import parse_duration


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    f = tmp_path / "a.json"
    atomic_write_json(f, {"x": 1})
    atomic_write_json(f, {"x": 2})
    assert json.loads(f.read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_write_errors(tmp_path):
    with pytest.raises(PlannerError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "a.txt", "x")
    with pytest.raises(PlannerError, match="is a directory"):
        atomic_write_text(tmp_path, "x")


def test_special_files_are_written_not_replaced():
    atomic_write_text("/dev/null", "hello")
    import stat, os
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_read_json_and_jsonl_errors(tmp_path):
    with pytest.raises(PlannerError, match="plan not found"):
        read_json(tmp_path / "x.json", "plan")
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(PlannerError, match="line 3 is not valid JSON"):
        list(iter_jsonl(bad))
    bad.write_text('[1, 2]\n')
    with pytest.raises(PlannerError, match="line 1 is not a JSON object"):
        list(iter_jsonl(bad))


@pytest.mark.parametrize("text,seconds", [("60s", 60), ("500ms", 0.5), ("1.5m", 90), ("2", 2), (" 3 s", 3),
                                          ("1h", 3600), (7, 7.0), ("2min", 120)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5 parsecs", "-1s", "0", "nan", "inf", "1e400"])
def test_parse_duration_rejects(text):
    with pytest.raises(PlannerError):
        parse_duration(text)
