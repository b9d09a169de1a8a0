"""Sample bank tts-bank/1: loading, validation errors naming file and line, round trip, qwen-math importer."""

import json
from pathlib import Path

import numpy as np
import pytest

from planner.accuracy.bank import Bank, BankProblem, Sample, load_bank, save_bank
from planner.accuracy.bank_qwen_math import estimate_tokens
from planner.errors import PlannerError

DATA = Path(__file__).parents[1] / "data"
QWEN = DATA / "qwen_math_cot_5.jsonl"   # lines 1, 7, 18, 29, 99 of the Qwen2.5-Math maj/RM example file


def _line(pid="p1", samples=None, **extra):
    samples = samples if samples is not None else [
        {"answer": "4", "correct": True, "num_tokens": 10, "score": 0.5},
        {"answer": "5", "correct": False, "num_tokens": 20, "score": None}]
    return json.dumps({"problem_id": pid, "samples": samples, **extra})


def _write(tmp_path, *lines):
    p = tmp_path / "bank.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_classes_group_correct_answers_and_abstain_on_missing(tmp_path):
    samples = [{"answer": "1/2", "correct": True, "num_tokens": 5},
               {"answer": "0.5", "correct": True, "num_tokens": 6},
               {"answer": "3", "correct": False, "num_tokens": 7},
               {"answer": None, "correct": False, "num_tokens": 8},
               {"answer": "3", "correct": False, "num_tokens": 9},
               {"answer": "7", "correct": False, "num_tokens": 4}]
    bank = load_bank(_write(tmp_path, _line(samples=samples), _line("p2")))
    assert bank.num_problems == 2 and bank.num_samples == 8
    assert list(bank.sizes) == [6, 2]
    assert list(bank.class_ids[bank.span(0)]) == [0, 0, 1, -1, 1, 2]
    assert list(bank.answered[:6]) == [True, True, True, False, True, True]
    assert not bank.has_scores  # p2 has a null score
    assert np.isnan(bank.scores[7]) and bank.scores[6] == 0.5


def test_round_trip(tmp_path):
    bank = load_bank(_write(tmp_path, _line("a", question="q?", reference="4"), _line("b")))
    out = tmp_path / "out.jsonl"
    save_bank(bank, out)
    again = load_bank(out)
    assert again.problems() == bank.problems()
    assert again.questions == ("q?", None) and again.references == ("4", None)


@pytest.mark.parametrize("bad, needle", [
    ("{not json", "line 2 is not valid JSON"),
    ("[1, 2]", "line 2: is not a JSON object"),
    (_line("p9", samples=[{"answer": "1", "correct": True}]), "line 2: samples[0].num_tokens is missing"),
    (_line("p9", samples=[{"answer": "1", "correct": "yes", "num_tokens": 3}]), "samples[0].correct must be"),
    (_line("p9", samples=[{"answer": 1, "correct": True, "num_tokens": 3}]), "samples[0].answer must be"),
    (_line("p9", samples=[{"answer": "1", "correct": True, "num_tokens": -3}]), "num_tokens must be a non-neg"),
    (_line("p9", samples=[{"answer": "1", "correct": True, "num_tokens": 3, "score": "x"}]), "score must be"),
    (_line("p9", samples=[]), "line 2: samples must be a non-empty list"),
    (_line(""), "line 2: problem_id must be a non-empty string"),
    (_line("p1"), "line 2: problem_id 'p1' already on line 1"),
    (_line("p9", schema="tts-bank/9"), "schema is 'tts-bank/9'"),
])
def test_corrupt_bank_names_file_and_line(tmp_path, bad, needle):
    path = _write(tmp_path, _line("p1"), bad)
    with pytest.raises(PlannerError) as e:
        load_bank(path)
    assert needle in str(e.value) and str(path) in str(e.value)


def test_missing_empty_and_unknown_format(tmp_path):
    with pytest.raises(PlannerError, match="not found"):
        load_bank(tmp_path / "nope.jsonl")
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(PlannerError, match="holds no problems"):
        load_bank(empty)
    with pytest.raises(PlannerError, match="unknown sample-bank format 'csv'"):
        load_bank(empty, "csv")


def test_qwen_math_import():
    bank = load_bank(QWEN, "qwen-math")
    assert bank.problem_ids == ("0", "6", "17", "28", "98")
    assert list(bank.sizes) == [8] * 5
    assert bank.references[4] == "50,625"            # gt preferred over the `answer` field (50,\!625)
    assert bank.correct.sum() == 8 + 3 + 4 + 2 + 4  # 21 of 40
    assert bank.summary()["mean_accuracy"] == pytest.approx(21 / 40)
    assert bank.has_scores and bank.scores[0] == 3.546875 and bank.scores[8] == -2.6875  # [[x]] -> x
    assert bank.meta["num_tokens_estimated"] is True
    first = json.loads(QWEN.read_text().splitlines()[0])
    assert bank.num_tokens[0] == estimate_tokens(first["code"][0]) == -(-len(first["code"][0]) // 3.5)
    # problem 98: 50625 x4 correct, 759375 x2, 2500, 708750 -> classes 0, 1, 2, 3
    assert list(bank.class_ids[bank.span(4)]) == [0, 1, 0, 0, 2, 3, 1, 0]


def test_qwen_math_bad_lines(tmp_path):
    good = QWEN.read_text().splitlines()[0]
    row = json.loads(good)
    row["score"] = row["score"][:3]
    p = _write(tmp_path, good, json.dumps(row))
    with pytest.raises(PlannerError, match=r"line 2: score must be a list of 8 booleans"):
        load_bank(p, "qwen-math")
    row = json.loads(good)
    del row["code"], row["response"]
    with pytest.raises(PlannerError, match=r"line 1: need num_tokens or code/response"):
        load_bank(_write(tmp_path, json.dumps(row)), "qwen-math")


def test_bank_from_problems_rejects_empty():
    with pytest.raises(PlannerError):
        Bank.from_problems([])
    with pytest.raises(PlannerError, match="has no samples"):
        Bank.from_problems([BankProblem("x", ())])
    b = Bank.from_problems([BankProblem("x", (Sample("1", True, 3),))])
    assert b.num_samples == 1 and b.class_ids[0] == 0
