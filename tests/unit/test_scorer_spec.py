"""The scorer spec (planner/scoring.py): string syntax, recorded in plans and banks (round trips), carried from a
bank to the plan by recommend, and `planner run`'s refusal of a plan whose scorer it cannot load."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from planner.accuracy.bank import Bank, BankProblem, Sample, load_bank, save_bank
from planner.errors import PlannerError
from planner.plan import Plan
from planner.scoring import ScorerConfig, parse_spec
from test_bad_inputs import assert_contract, run  # the CLI call and the one-line error check

DATA = Path(__file__).parents[1] / "data"
SPECS = {
    "confidence": {"kind": "confidence", "model": None, "transform": "raw"},
    "boxed?transform=rank": {"kind": "boxed", "model": None, "transform": "rank"},
    "mod.sub:fn": {"kind": "python", "model": "mod.sub:fn", "transform": "raw"},
    "reward:/m/rm": {"kind": "reward-local", "model": "/m/rm", "transform": "sigmoid", "aggregation": None},
    "reward:org/prm?step=min&sep=%0A": {"kind": "reward-local", "model": "org/prm", "transform": "sigmoid",
                                        "aggregation": "min", "separator": "\n"},
    "reward:org/prm?step=prod": {"kind": "reward-local", "model": "org/prm", "transform": "raw",
                                 "aggregation": "prod", "separator": "\n\n"},
    "reward-served:http://h:8000/v1?model=rm&transform=rank": {
        "kind": "reward-served", "model": "http://h:8000/v1", "transform": "rank", "aggregation": None,
        "served_model": "rm"},
}


@pytest.mark.parametrize("text", SPECS)
def test_spec_strings_parse_and_round_trip(text):
    spec = parse_spec(text)
    assert spec.to_dict() == SPECS[text]
    assert parse_spec(spec.to_string()) == spec and ScorerConfig.from_dict(spec.to_dict()) == spec
    assert ScorerConfig.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize("text,needle", [
    ("bleu", "unknown scorer; use confidence"), ("reward:", "give the model after 'reward:'"),
    ("reward:x?temp=1", "unknown option 'temp=1'"), ("reward:x?step=mean", "step='mean' is not one of last"),
    ("reward:x?transform=log", "transform='log' is not one of raw"), ("reward:x?step=min&sep=", "sep is empty"),
    ("boxed?model=x", "unknown option 'model=x'"),
])
def test_bad_spec_strings_say_what_to_do(text, needle):
    with pytest.raises(PlannerError, match=needle.replace("?", r"\?")):
        parse_spec(text)


def plan_dict(**over):
    d = {"schema": "tts-plan/1", "method": "best_of_n", "branches": 4, "deadline_s": 30.0,
         "speculative": {"method": "none", "num_speculative_tokens": 0}, "predicted": {"accuracy": 0.5},
         "profile": {"id": "p"}, "model": {"name": "m"}, "sampling": {"temperature": 0.7, "max_tokens": 64}}
    return d | over


def test_plan_records_the_scorer_and_round_trips():
    spec = parse_spec("reward:org/prm?step=min").to_dict()
    plan = Plan.from_dict(plan_dict(scorer=spec))
    assert plan.scorer == spec
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.scorer == spec and again.to_dict() == plan.to_dict()
    majority = Plan.from_dict(plan_dict(method="majority"))
    assert majority.scorer == {} and "scorer" not in majority.to_dict()   # old plans unchanged


@pytest.mark.parametrize("bad,needle", [
    ("confidence", "plan <memory>: scorer: must be a JSON object"),
    ({"kind": "bert"}, "scorer.kind: must be one of"),
    ({"kind": "reward-local"}, "scorer.model: scorer kind reward-local needs a model"),
    ({"kind": "reward-local", "model": "m", "aggregation": "avg"}, "scorer.aggregation: must be one of"),
    ({"kind": "confidence", "temperature": 1}, "scorer.temperature: unknown field"),
])
def test_bad_plan_scorer_is_one_line_naming_the_field(bad, needle):
    with pytest.raises(PlannerError, match=needle.replace("(", r"\(")):
        Plan.from_dict(plan_dict(scorer=bad))


def _bank(scorer: dict | None, seed: int = 0) -> Bank:
    rng = np.random.default_rng(seed)
    probs = []
    for p in range(12):
        samples = tuple(Sample(str(a), a == 1, int(rng.integers(5, 50)), float(rng.normal() + (a == 1)))
                        for a in rng.integers(1, 4, size=6))
        probs.append(BankProblem(f"p{p}", samples, "q", "1"))
    return Bank.from_problems(probs, {"scorer": scorer} if scorer else {})


def test_bank_records_the_scorer_and_round_trips(tmp_path):
    spec = parse_spec("reward:org/rm").to_dict()
    save_bank(_bank(spec), tmp_path / "b.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert all(line["scorer"] == spec for line in lines)
    assert load_bank(tmp_path / "b.jsonl").meta["scorer"] == spec
    save_bank(_bank(None), tmp_path / "none.jsonl")
    assert "scorer" not in load_bank(tmp_path / "none.jsonl").meta
    lines[3]["scorer"] = parse_spec("confidence").to_dict()
    (tmp_path / "mixed.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    with pytest.raises(PlannerError, match="line 4: scorer .* differs from the first line's"):
        load_bank(tmp_path / "mixed.jsonl")


def test_recommend_carries_the_banks_scorer_and_transform_into_the_plan(tmp_path):
    from planner.api import recommend

    spec = parse_spec("reward:org/rm?transform=rank").to_dict()
    save_bank(_bank(spec), tmp_path / "bank.jsonl")
    save_bank(_bank(None), tmp_path / "plain.jsonl")
    prof = json.loads((DATA / "profile_test.json").read_text())
    for name, bank in (("rm", "bank.jsonl"), ("plain", "plain.jsonl")):
        p = copy.deepcopy(prof) | {"id": f"with-{name}"}
        p["accuracy"] = {"kind": "bank", "path": bank, "source": "test"}
        (tmp_path / f"{name}.json").write_text(json.dumps(p))
    plan = recommend([str(tmp_path / "rm.json")], 600.0, methods=["weighted_majority"], max_branches=8)
    assert plan.method == "weighted_majority" and plan.scorer == spec     # the bank's transform: rank
    plain = recommend([str(tmp_path / "plain.json")], 600.0, methods=["best_of_n"], max_branches=8)
    assert plain.scorer == {} and any("records no scorer" in n and "transform sigmoid" in n for n in plain.notes)
    majority = recommend([str(tmp_path / "rm.json")], 600.0, methods=["majority"], max_branches=8)
    assert majority.scorer == {}




def test_run_refuses_a_plan_whose_scorer_it_cannot_load(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_dict(scorer=parse_spec("python:no_such_module_x:score").to_dict())))
    rc, _, err = run(capsys, "run", "--plan", path, "--prompt", "1+1?", "--backend", "openai",
                      "--url", "http://127.0.0.1:9/v1", "--server-model", "m")
    assert_contract(rc, err, f"plan {path}: cannot load its scorer python:no_such_module_x:score")
    assert "pass --scorer SPEC to use another" in err


def test_run_refuses_a_scored_plan_without_a_scorer(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_dict(method="weighted_majority")))
    rc, _, err = run(capsys, "run", "--plan", path, "--prompt", "1+1?", "--backend", "openai",
                      "--url", "http://127.0.0.1:9/v1", "--server-model", "m")
    assert_contract(rc, err, "uses weighted_majority but records no scorer: pass --scorer SPEC")


def test_scorer_flag_overrides_the_plans_and_says_so():
    from planner.executor.scorers import scorer_for

    recorded = parse_spec("python:no_such_module_x:score").to_dict()
    scorer, notes = scorer_for("boxed", recorded, {"best_of_n"}, plan_path="p.json")
    assert scorer.spec == parse_spec("boxed")
    assert notes == ["override: scorer python:no_such_module_x:score -> boxed (the plan's accuracy prediction "
                     "assumed the first)"]
    same, quiet = scorer_for("operator:eq", parse_spec("python:operator:eq").to_dict(), {"best_of_n"})
    assert quiet == [] and same.score("q", "q", 1, None) == 1.0 and same.score("q", "t", 1, None) == 0.0
    assert scorer_for(None, None, {"majority"}) == (None, [])
    with pytest.raises(PlannerError, match="best_of_n needs a scorer: pass --scorer SPEC"):
        scorer_for(None, None, {"best_of_n", "majority"})


def test_validate_refuses_a_plan_whose_scorer_it_cannot_load(tmp_path, capsys):
    from tests.fake_openai import dataset

    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_dict(scorer=parse_spec("python:no_such_module_x:score").to_dict())))
    data = dataset(tmp_path / "d.jsonl", 2)
    rc, _, err = run(capsys, "validate", "--plan", path, "--dataset", data, "--backend", "openai",
                      "--url", "http://127.0.0.1:9/v1", "--server-model", "m")
    assert_contract(rc, err, f"plan {path}: cannot load its scorer python:no_such_module_x:score")
