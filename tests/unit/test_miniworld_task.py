"""The miniworld task: deterministic, disjoint splits, correct chains of thought, strict answer grading."""

import json

import pytest

from planner.demo.miniworld import task


def test_solve_runs_the_recurrence_mod_10():
    p = task.solve("Q:2,7,4,n4=")
    assert p.solution == "3:4+2=6;2:6+7=3;1:3+4=7;0:7+6=3;A:3"
    assert p.answer == "3" and p.steps == 4
    assert task.solve("Q:0,0,0,n9=").answer == "0"
    assert task.solve("Q:9,1,9,n1=").solution == "0:9+9=8;A:8"


def test_solve_rejects_non_questions():
    for bad in ("2,7,3,n4=", "Q:2,7,3,n4", "Q:2,7,3,n0=", "Q:2,7,3,n10=", "Q:12,7,3,n4=", "Q:2,7,n4=", "Q:="):
        with pytest.raises(ValueError):
            task.solve(bad)


def test_make_problems_is_deterministic_and_distinct():
    a = task.make_problems(50, seed=3, split="test")
    b = task.make_problems(50, seed=3, split="test")
    c = task.make_problems(50, seed=4, split="test")
    assert a == b
    assert [p["question"] for p in a] != [p["question"] for p in c]
    assert len({p["question"] for p in a}) == 50
    assert len({p["problem_id"] for p in a}) == 50
    for p in a:
        assert set(p) >= {"problem_id", "question", "reference"}
        assert task.solve(p["question"]).answer == p["reference"]
        assert task.MIN_STEPS <= p["steps"] <= task.MAX_STEPS
        assert len(p["question"]) == 11  # fixed, so every copy from the prompt is a fixed distance back
        assert len(p["solution"]) == 8 * p["steps"] + 3


def test_splits_are_disjoint_and_stable():
    test = {p["question"] for p in task.make_problems(300, 0, "test")}
    val = {p["question"] for p in task.make_problems(300, 0, "val")}
    stream = task.iter_split("train", 0)
    train = {next(stream).question for _ in range(5000)}
    assert not (test & train) and not (val & train) and not (test & val)
    assert all(task.split_of(q) == "test" for q in test)
    # the split is a hash of the text, so it cannot change with the seed or the machine
    assert task.split_of("Q:2,7,4,n4=") == task.split_of("Q:2,7,4,n4=")
    share = sum(task.split_of(task.random_problem(__import__("random").Random(i)).question) == "test"
                for i in range(2000)) / 2000
    assert 0.07 < share < 0.13


def test_step_counts_spread_lengths():
    probs = task.make_problems(400, 0, "test")
    steps = {p["steps"] for p in probs}
    assert steps == set(range(task.MIN_STEPS, task.MAX_STEPS + 1))
    lens = sorted(len(p["solution"]) for p in probs)
    assert lens[-1] / lens[0] >= 5


@pytest.mark.parametrize("text,expected", [
    ("3:4+2=6;2:6+7=3;1:3+4=7;0:7+6=3;A:3", "3"),
    ("A:07", "7"),
    ("A:3;A:41", "41"),
    ("1+2=3;", None),
    ("", None),
    (None, None),
    ("A:", None),
])
def test_extract_answer(text, expected):
    assert task.extract_answer(text) == expected


def test_grade():
    assert task.grade("59", "59")
    assert task.grade(" 7", "7") and task.grade("07", "7")
    assert not task.grade("58", "59")
    assert not task.grade(None, "59")
    assert not task.grade("x", "59")


def test_write_jsonl_math500_style(tmp_path):
    probs = task.make_problems(5, 1, "test")
    path = task.write_jsonl(tmp_path / "mw.jsonl", probs)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["problem"] for r in rows] == [p["question"] for p in probs]
    assert [r["answer"] for r in rows] == [p["reference"] for p in probs]
    assert len({r["unique_id"] for r in rows}) == 5
    assert all(task.grade(task.extract_answer(r["solution"]), r["answer"]) for r in rows)


def test_task_cli(tmp_path, capsys):
    assert task.main(["--out", str(tmp_path / "t.jsonl"), "-n", "7", "--seed", "2"]) == 0
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 7


def test_task_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    assert task.main(["--out", str(tmp_path / "t.jsonl"), "-n", "100000"]) == 2
    assert not (tmp_path / "t.jsonl").exists()
    assert task.main(["--out", str(tmp_path / "no" / "t.jsonl"), "-n", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_noisy_solution_slips_at_the_stated_rate_and_stays_well_formed():
    import random

    rng = random.Random(0)
    lines_total = slipped = 0
    for p in task.make_problems(400, 5, "val"):
        got = task.noisy_solution(p["question"], rng).split(";")
        assert len(got) == p["steps"] + 1
        a, b, c, n = task._parse(p["question"])
        for i, line in enumerate(got[:-1]):
            head, z = line.split("=")
            # the line copies its two inputs exactly; only its result may slip
            assert head == f"{n - 1 - i}:{c}+{a}"
            slipped += int(z) != (c + a) % 10
            a, b, c = b, c, int(z)
        assert got[-1] == f"A:{c}"  # the chain carries on from its own (possibly wrong) value
        lines_total += p["steps"]
    assert abs(slipped / lines_total - task.SLIP_PROB) < 0.02
    assert task.noisy_solution("Q:2,7,4,n2=", rng, slip=0.0) == "1:4+2=6;0:6+7=3;A:3"


def test_make_problems_refuses_more_than_the_split_holds():
    n_test = len(task.split_questions("test"))
    assert 800 < n_test < 1000
    assert len(task.make_problems(n_test, 0, "test")) == n_test
    with pytest.raises(ValueError, match="distinct problems"):
        task.make_problems(n_test + 1, 0, "test")
