"""The bad-input corpus, part 2: the readers (plans, sample banks, points and acceptance CSVs, datasets) and the
paths and flags around them. Same contract as tests/unit/test_bad_inputs.py: the exit code, exactly one stderr line
`planner: error: ...` naming the file and the field's path, no traceback, and nothing written where the command
would have written. Each family also has one valid input that passes, so a reader refusing everything fails."""

import copy
import importlib.util
import json
import sys

import pytest

from planner import cli
from test_bad_inputs import DATA, GONE, assert_contract, edited as _edited, run  # the corpus's helpers

# dataset rows are read after the local engine's libraries are checked (run/eval/validate say a missing extra first)
needs_engine = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf")),
                                  reason="needs the engine extra (pip install -e .[engine])")
BASE = "h100-sxm-qwen2.5-7b"


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---- plans ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plan_dict(tmp_path_factory):
    f = tmp_path_factory.mktemp("plan") / "plan.json"
    assert cli.main(["recommend", "-d", "10s", "-p", str(DATA / "profile_test.json"), "-o", str(f)]) == 0
    return json.loads(f.read_text())


PLAN_FIELDS = [
    ("branches", True, "branches: must be an integer, got bool True"),
    ("branches", 10**9, "branches: must be an integer in [1, 4096], got 1000000000"),
    ("branches", 0, "branches: must be an integer in [1, 4096], got 0"),
    ("branches", -3, "branches: must be an integer in [1, 4096]"), ("branches", 2.5, "branches: must be an integer"),
    ("branches", "8", "branches: must be an integer, got str '8'"), ("branches", None, "branches: is missing"),
    ("branches", GONE, "branches: is missing"), ("branches", 1e300, "branches: is absurdly large"),
    ("deadline_s", -5, "deadline_s: must be in [1e-06, 10000000], got -5"), ("deadline_s", 0, "deadline_s: must be"),
    ("deadline_s", 1e300, "deadline_s: is absurdly large"), ("deadline_s", "10s", "deadline_s: must be a number"),
    ("deadline_s", True, "deadline_s: must be a number, got bool"), ("deadline_s", GONE, "deadline_s: is missing"),
    ("quantile", 1.5, "quantile: must be in (0, 1)"), ("quantile", 0, "quantile: must be in (0, 1)"),
    ("quantile", "p90", "quantile: must be a number"),
    ("method", "beam", "method: unknown method 'beam'"), ("method", 3, "method: must be a non-empty string"),
    ("method", "", "method: must be a non-empty string"), ("method", GONE, "method: is missing"),
    ("speculative", None, "speculative: must be a JSON object, got null"),
    ("speculative", [], "speculative: must be a JSON object, got list"),
    ("speculative.method", "medusa", "speculative.method: must be one of none, draft_model, ngram"),
    ("speculative.method", GONE, "speculative.method: is missing"),
    ("speculative.num_speculative_tokens", -1, "speculative.num_speculative_tokens: must be an integer in [0, 16]"),
    ("speculative.num_speculative_tokens", 17, "speculative.num_speculative_tokens: must be an integer in [0, 16]"),
    ("speculative.num_speculative_tokens", True, "speculative.num_speculative_tokens: must be an integer, got bool"),
    ("speculative.num_speculative_tokens", 0, "speculative.num_speculative_tokens: 0 does not fit method"),
    ("speculative.draft_model", 5, "speculative.draft_model: must be a non-empty string"),
    ("speculative.draft_vocab_size", 0, "speculative.draft_vocab_size: must be an integer in"),
    ("speculative.ngram_max", 0, "speculative.ngram_max: must be an integer in [1, 1024]"),
    ("predicted", "good", "predicted: must be a JSON object, got str"),
    ("predicted.accuracy", 1.5, "predicted.accuracy: must be in [0, 1], got 1.5"),
    ("predicted.accuracy", -0.1, "predicted.accuracy: must be in [0, 1]"),
    ("predicted.latency_s", [1], "predicted.latency_s: must be a JSON object, got list"),
    ("predicted.latency_s.p90", -1, "predicted.latency_s.p90: must be >= 0, got -1"),
    ("predicted.p_meet_deadline", 2, "predicted.p_meet_deadline: must be in [0, 1]"),
    ("predicted.prompt_tokens", 0, "predicted.prompt_tokens: must be an integer in [1, 10000000]"),
    ("predicted.tokens_per_request", 1e300, "predicted.tokens_per_request: is absurdly large"),
    ("profile", "x", "profile: must be a JSON object, got str"), ("profile.id", GONE, "profile.id: is missing"),
    ("profile.id", 7, "profile.id: must be a non-empty string"),
    ("profile.provenance", 5, "profile.provenance: must be a JSON object or a string, got int"),
    ("model", None, "model: must be a JSON object, got null"), ("model.name", 3, "model.name: must be a non-empty"),
    ("model.tensor_parallel", 0, "model.tensor_parallel: must be an integer in [1, 65536]"),
    ("model.tensor_parallel", 10**6, "model.tensor_parallel: must be an integer in [1, 65536]"),
    ("model.hf_id", ["a"], "model.hf_id: must be a non-empty string, got list"),
    ("model.vocab_size", -1, "model.vocab_size: must be an integer in"),
    ("sampling", GONE, "sampling: is missing"),
    ("sampling.temperature", -0.5, "sampling.temperature: must be in [0, 100]"),
    ("sampling.temperature", 1e9, "sampling.temperature: must be in [0, 100]"),
    ("sampling.top_p", 0, "sampling.top_p: must be in (0, 1]"), ("sampling.top_p", 1.5, "sampling.top_p: must be in"),
    ("sampling.max_tokens", 0, "sampling.max_tokens: must be an integer in [1, 10000000]"),
    ("sampling.max_tokens", 10**12, "sampling.max_tokens: must be an integer in [1, 10000000]"),
    ("sampling.max_tokens", "lots", "sampling.max_tokens: must be an integer, got str"),
    ("hardware", [], "hardware: must be a JSON object, got list"),
    ("hardware.gpus", 0, "hardware.gpus: must be an integer in [1, 65536]"),
    ("hardware.name", 7, "hardware.name: must be a non-empty string"),
    ("runners_up", {}, "runners_up: must be a list of at most 100000 objects"),
    ("runners_up", [1], "runners_up[0]: must be a JSON object, got int"),
    ("runners_up", [{"branches": 10**9}], "runners_up[0].branches: must be an integer in [1, 4096]"),
    ("notes", "x", "notes: must be a list of at most 100000 strings"),
    ("notes", ["ok", 1], "notes[1]: must be a non-empty string, got int 1"),
    ("engines", [], "engines: must be a JSON object, got list"),
    ("frobnicate", 1, "unknown field 'frobnicate' (fields: method, branches,"),
]


@pytest.mark.parametrize("field,value,needle", PLAN_FIELDS)
def test_bad_plan_field(capsys, tmp_path, plan_dict, field, value, needle):
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(_edited(plan_dict, field, value)))
    out = tmp_path / "out.sh"
    out.write_text("keep")
    rc, _, err = run(capsys, "export", f, "--engine", "vllm", "--served-model", "org/m", "-o", out)
    assert_contract(rc, err, f"plan {f}: {needle}")
    assert out.read_text() == "keep" and _names(tmp_path) == ["out.sh", "plan.json"]


def test_valid_plan_is_read_and_normalised(capsys, tmp_path, plan_dict):
    """The reader passes a good plan (an integral float is an integer; a free-text provenance becomes an
    object consumers can .get from) and the exporter gets the values: n is the plan's branch count."""
    from planner.plan import load_plan

    f = tmp_path / "plan.json"
    d = _edited(_edited(plan_dict, "branches", 12.0), "profile.provenance", "hand-written")
    f.write_text(json.dumps(d))
    plan = load_plan(str(f))
    assert plan.branches == 12 and type(plan.branches) is int and plan.profile["provenance"] == {
        "description": "hand-written"}
    rc, out, err = run(capsys, "export", f, "--engine", "vllm", "--served-model", "org/m")
    assert rc == 0 and err == "" and '"n": 12' in out


@pytest.mark.parametrize("cmd", [["run", "--prompt", "1+1?"], ["validate", "--dataset", "math500"]])
def test_every_command_reads_plans_through_the_reader(capsys, tmp_path, plan_dict, cmd):
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(_edited(plan_dict, "branches", True)))
    rc, _, err = run(capsys, *cmd, "--plan", f)
    assert_contract(rc, err, f"plan {f}: branches: must be an integer, got bool True")


# ---- sample banks (a profile's accuracy source) --------------------------------------------------------------

GOOD_PROBLEM = {"problem_id": "p0", "samples": [{"answer": str(j % 3), "correct": j % 3 == 0, "num_tokens": 100 + j}
                                                for j in range(8)]}


def _sample(**kw):
    return json.dumps({"problem_id": "p9", "samples": [{"answer": "1", "correct": True, "num_tokens": 5, **kw}]})


BANK_LINES = [
    (_sample(num_tokens=1e300), "samples[0].num_tokens must be at most 10000000, got 1e+300"),
    (_sample(num_tokens=10**20), "samples[0].num_tokens must be at most 10000000"),
    (_sample().replace('"num_tokens": 5', '"num_tokens": NaN'), "line 2 is not valid JSON: NaN is not valid JSON"),
    (_sample().replace('"num_tokens": 5', '"num_tokens": Infinity'), "Infinity is not valid JSON"),
    (_sample().replace('"num_tokens": 5', '"num_tokens": ' + "9" * 40), "integer with 40 digits is absurdly large"),
    (_sample(num_tokens=-3), "samples[0].num_tokens must be a non-negative integer, got -3"),
    (_sample(num_tokens=2.5), "samples[0].num_tokens must be a non-negative integer, got 2.5"),
    (_sample(num_tokens="100"), "samples[0].num_tokens must be a non-negative integer, got '100'"),
    (_sample(num_tokens=True), "samples[0].num_tokens must be a non-negative integer, got True"),
    (_sample(correct="yes"), "samples[0].correct must be true or false, got 'yes'"),
    (_sample(correct=1), "samples[0].correct must be true or false, got 1"),
    (_sample(correct=None), "samples[0].correct must be true or false, got None"),
    (_sample(answer=5), "samples[0].answer must be a string or null, got 5"),
    (_sample(score="x"), "samples[0].score must be a finite number or null, got 'x'"),
    (_sample(score=1e300), "samples[0].score must be a finite number or null, got 1e+300"),
    (_sample(score=True), "samples[0].score must be a finite number or null, got True"),
    (json.dumps({"problem_id": "", "samples": GOOD_PROBLEM["samples"]}), "problem_id must be a non-empty string"),
    (json.dumps({"problem_id": 5, "samples": GOOD_PROBLEM["samples"]}), "problem_id must be a non-empty string"),
    (json.dumps(GOOD_PROBLEM), "problem_id 'p0' already on line 1"),
    (json.dumps({"problem_id": "p9", "samples": []}), "samples must be a non-empty list"),
    (json.dumps({"problem_id": "p9", "samples": "abc"}), "samples must be a non-empty list"),
    (json.dumps({"problem_id": "p9", "samples": [7]}), "samples[0] must be a JSON object"),
    ('{"problem_id": "p9", "problem_id": "p8", "samples": []}', "duplicate key 'problem_id'"),
    ('{"problem_id": "p9", "x": ' + "[" * 70 + "]" * 70 + "}", "nested too deeply"),
    ("[1, 2]", "line 2: is not a JSON object"), ("{not json", "line 2 is not valid JSON"),
    (json.dumps({**GOOD_PROBLEM, "problem_id": "p9", "schema": "tts-bank/9"}), "schema is 'tts-bank/9'"),
]


def _bank_profile(tmp_path, bank_path: str):
    d = json.loads((DATA / "profile_test.json").read_text())
    d["accuracy"] = {"kind": "bank", "path": bank_path, "format": "tts-bank"}
    prof = tmp_path / "prof.json"
    prof.write_text(json.dumps(d))
    return prof


@pytest.mark.parametrize("line,needle", BANK_LINES)
def test_bad_bank_line(capsys, tmp_path, line, needle):
    bank = tmp_path / "bank.jsonl"
    bank.write_text(json.dumps(GOOD_PROBLEM) + "\n" + line + "\n")
    prof = _bank_profile(tmp_path, "bank.jsonl")
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", prof, "-o", tmp_path / "plan.json")
    assert_contract(rc, err, f"sample bank {bank}: line 2")
    assert needle in err and _names(tmp_path) == ["bank.jsonl", "prof.json"]


@pytest.mark.slow
def test_valid_bank_recommends(capsys, tmp_path):
    bank = tmp_path / "bank.jsonl"
    bank.write_text("".join(json.dumps({**GOOD_PROBLEM, "problem_id": f"p{i}"}) + "\n" for i in range(5)))
    rc, out, err = run(capsys, "recommend", "-d", "10s", "-p", _bank_profile(tmp_path, "bank.jsonl"))
    assert rc == 0 and "=> majority" in out, err


@pytest.mark.parametrize("where,needle", [
    ("DIR", "is a directory, not a file"), ("/dev/null", "is a character device, not a file"),
    ("b" * 300 + ".jsonl", "File name too long"), ("missing.jsonl", "sample bank not found"),
    ("EMPTY", "holds no problems")])
def test_bad_bank_path(capsys, tmp_path, where, needle):
    (tmp_path / "d").mkdir()
    (tmp_path / "empty.jsonl").write_text("\n\n")
    path = {"DIR": "d", "EMPTY": "empty.jsonl"}.get(where, where)
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", _bank_profile(tmp_path, path))
    assert_contract(rc, err, needle)


def test_bank_writer_never_writes_nan(tmp_path):
    import numpy as np

    from planner.accuracy.bank import Bank, BankProblem, Sample, bank_to_jsonl, save_bank
    from planner.errors import PlannerError

    bank = Bank.from_problems([BankProblem("p", (Sample("1", True, 5, 0.5),))])
    assert json.loads(bank_to_jsonl(bank))["samples"][0]["score"] == 0.5  # the valid case round-trips
    bank.scores[0] = np.inf  # a degenerate reward model
    with pytest.raises(PlannerError, match="samples\\[0\\].score is not a finite number"):
        save_bank(bank, tmp_path / "b.jsonl")
    assert _names(tmp_path) == []


# ---- points CSVs (calibrate --from-points) -------------------------------------------------------------------

HEAD = "role,batch,query,context,seconds\n"
SPREAD = "target,1,1,64,0.010\ntarget,8,1,512,0.013\ntarget,1,1,512,0.011\n"  # two batch sizes: a fit is possible

POINTS = [
    (HEAD + "target,0,1,64,0.1\n" + SPREAD, "line 2: batch: must be an integer in [1, 1000000], got 0"),
    (HEAD + "target,\u0661,1,64,0.1\n" + SPREAD, "line 2: batch: must be an integer, got '\u0661'"),
    (HEAD + "target,1_0,1,64,0.1\n" + SPREAD, "line 2: batch: must be an integer, got '1_0'"),
    (HEAD + "target,1e30,1,64,0.1\n" + SPREAD, "line 2: batch: is absurdly large"),
    (HEAD + "target,2.5,1,64,0.1\n" + SPREAD, "line 2: batch: must be an integer, got 2.5"),
    (HEAD + "target,1,0,64,0.1\n" + SPREAD, "line 2: query: must be an integer in [1, 10000000]"),
    (HEAD + "target,1,1,-64,0.1\n" + SPREAD, "line 2: context: must be an integer in [0, 100000000]"),
    (HEAD + "target,1,1,1" + "0" * 70 + ",0.1\n" + SPREAD, "line 2: context: must be an integer, got '1000"),
    (HEAD + "target,1,1,64,nan\n" + SPREAD, "line 2: timing must be a finite positive number of seconds, got nan"),
    (HEAD + "target,1,1,64,inf\n" + SPREAD, "line 2: timing must be a finite positive number of seconds, got inf"),
    (HEAD + "target,1,1,64,1e400\n" + SPREAD, "line 2: timing must be a finite positive number"),
    (HEAD + "target,1,1,64,-0.5\n" + SPREAD, "line 2: timing must be a finite positive number of seconds"),
    (HEAD + "target,1,1,64,0\n" + SPREAD, "line 2: timing must be a finite positive number of seconds"),
    (HEAD + "target,1,1,64,1e-300\n" + SPREAD, "line 2: seconds: must be in [1e-09, 10000], got 1e-300"),
    (HEAD + "target,1,1,64,1e9\n" + SPREAD, "line 2: seconds: must be in [1e-09, 10000]"),
    (HEAD + "target,1,1,64,\u0660.1\n" + SPREAD, "line 2: seconds: must be a number, got '\u0660.1'"),
    (HEAD + "target,1,1,64,fast\n" + SPREAD, "line 2: seconds: must be a number, got 'fast'"),
    (HEAD + "verify,1,1,64,0.1\n" + SPREAD, "line 2: role must be one of target, draft, prefill"),
    (HEAD + "target,1,1\n" + SPREAD, "line 2 has 3 fields, expected 5"),
    (HEAD + "target,1,1,64,0.1\ntarget,1,1,128,0.2\ntarget,1,4,256,0.3\n",
     "every target row has batch 1; the step fit needs at least 2 batch sizes"),
    (HEAD + SPREAD + "draft,4,1,64,0.01\ndraft,4,1,128,0.02\ndraft,4,1,256,0.03\n", "every draft row has batch 4"),
    (HEAD + "prefill,1,100,0,0.1\n", "no 'target' rows"),
    ("role,batch,batch,query,context,seconds\n" + SPREAD, "column batch appears twice in the header"),
    ("role,batch,seconds\n" + SPREAD, "header must have columns role,batch,query,context,seconds; missing query"),
    ("", "is empty"), ("# only a comment\n", "is empty"),
]


@pytest.mark.parametrize("content,needle", POINTS)
def test_bad_points_csv(capsys, tmp_path, content, needle):
    f = tmp_path / "points.csv"
    f.write_text(content)
    rc, _, err = run(capsys, "calibrate", "--from-points", f, "--base-profile", BASE, "-o", tmp_path / "o.json")
    assert_contract(rc, err, f"points file {f}")
    assert needle in err and _names(tmp_path) == ["points.csv"]


@pytest.mark.slow
def test_points_with_two_batch_sizes_fit(capsys, tmp_path):
    """The one-batch-size refusal is about the spread, not the rows: a BOM-headed file of the same kind of rows
    at two batch sizes is fitted and written."""
    f = tmp_path / "points.csv"
    f.write_text("\ufeff" + HEAD + SPREAD)
    rc, _, err = run(capsys, "calibrate", "--from-points", f, "--base-profile", BASE, "-o", tmp_path / "o.json")
    assert rc == 0, err
    assert json.loads((tmp_path / "o.json").read_text())["calibration"]["fit"]["target"]["n_points"] == 3


@pytest.mark.parametrize("where,needle", [
    ("/dev/null", "points file /dev/null is a character device, not a file"), ("DIR", "is a directory, not a file"),
    ("p" * 300 + ".csv", "File name too long"), ("missing.csv", "points file not found")])
def test_bad_points_path(capsys, tmp_path, where, needle):
    where = {"DIR": tmp_path}.get(where, where)
    rc, _, err = run(capsys, "calibrate", "--from-points", where, "--base-profile", BASE, "-o", tmp_path / "o.json")
    assert_contract(rc, err, needle)
    assert not (tmp_path / "o.json").exists()


# ---- acceptance CSVs (calibrate --from-points --acceptance-csv) ----------------------------------------------

ACCEPTANCE = [
    ("position,accepted,reached\n\u0661,80,100\n", "line 2: position: must be an integer, got '\u0661'"),
    ("position,accepted,reached\n1,\u0668\u0660,100\n", "line 2: accepted: must be an integer, got '\u0668\u0660'"),
    ("position,alpha\n1,\u0660.5\n", "line 2: alpha: must be a number, got '\u0660.5'"),
    ("position,accepted,reached\n1,80,1" + "0" * 5000 + "\n", "line 2: reached: must be an integer, got '1000"),
    ("position,accepted,reached\n1,8" + "0" * 30 + ",1" + "0" * 31 + "\n", "line 2: accepted: is absurdly large"),
    ("position,accepted,reached\n1,90,80\n", "need 0 <= accepted <= reached, got 90 / 80"),
    ("position,accepted,reached\n1,-1,80\n", "line 2: accepted: must be an integer in [0, 1000000000000]"),
    ("position,accepted,reached\n1,true,80\n", "line 2: accepted: must be an integer, got 'true'"),
    ("position,accepted,reached\n1,80,100,7\n", "line 2 has 4 fields, expected 3"),
    ("position,accepted,reached\n1,80\n", "line 2 has 2 fields, expected 3"),
    ("position,alpha\n1,nan\n", "line 2: alpha: must be a finite number, got nan"),
    ("position,alpha\n1,1.7\n", "line 2: alpha: must be in [0, 1], got 1.7"),
    ("position,alpha\n2,0.5\n", "line 2: positions must be 1, 2, ... in order"),
    ("position,alpha\n" + "".join(f"{i},0.5\n" for i in range(1, 100)), "99 positions (at most 64)"),
    ("position,alpha,alpha\n1,0.5,0.6\n", "column alpha appears twice in the header"),
    ("position,rate\n1,0.5\n", "needs columns position and accepted,reached or alpha"),
    ("position,alpha\n", "has no rows"),
]


@pytest.fixture()
def good_points(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text(HEAD + SPREAD)
    return f


@pytest.mark.parametrize("content,needle", ACCEPTANCE)
def test_bad_acceptance_csv(capsys, tmp_path, good_points, content, needle):
    acc = tmp_path / "acc.csv"
    acc.write_text(content)
    rc, _, err = run(capsys, "calibrate", "--from-points", good_points, "--base-profile", BASE, "--acceptance-csv",
                     acc, "-o", tmp_path / "o.json")
    assert_contract(rc, err, f"acceptance file {acc}")
    assert needle in err and _names(tmp_path) == ["acc.csv", "points.csv"]


def test_acceptance_counts_give_the_rates(tmp_path):
    """Oracle for the valid path: alpha = accepted / reached, with the Wilson interval computed by hand."""
    import math

    from planner.calibrate.acceptance import read_acceptance_csv

    f = tmp_path / "acc.csv"
    f.write_text("\ufeffPosition , Accepted , Reached\n1,80,100\n2,30,80\n")
    acc = read_acceptance_csv(f, 0.6)
    z = 1.959963984540054
    p, n = 0.8, 100
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert acc["alpha"] == [0.8, 0.375]
    assert acc["ci_low"][0] == pytest.approx(mid - half, abs=1e-5) and acc["ci_high"][0] == pytest.approx(mid + half,
                                                                                                         abs=1e-5)


# ---- datasets (run / eval / validate --dataset) --------------------------------------------------------------

DATASET_ROWS = [
    ({"problem": 5}, "row 2: problem: must be a non-empty string, got int 5"),
    ({"question": ["a"]}, "row 2: question: must be a non-empty string, got list"),
    ({"prompt": {"text": "q"}}, "row 2: prompt: must be a non-empty string, got dict"),
    ({"problem": "   "}, "row 2 has no problem/question text"),
    ({"answer": "3"}, "row 2 has no problem/question text"),
    ({"problem": "x" * 1_000_001}, "row 2: problem: is 1000001 characters long (at most 1000000)"),
    ({"problem": "q", "id": True}, "row 2: id: must be a string or an integer, got bool True"),
    ({"problem": "q", "id": 1.5}, "row 2: id: must be a string or an integer, got float 1.5"),
    ({"problem": "q", "idx": [1]}, "row 2: idx: must be a string or an integer, got list"),
    ({"problem": "q", "unique_id": ""}, "row 2: unique_id: must be a non-empty string"),
    ({"problem": "q", "problem_id": "i" * 100_001}, "row 2: problem_id: is 100001 characters long"),
    ({"problem": "q", "answer": [1, 2]}, "row 2: answer: must be a string or a number, got list"),
    ({"problem": "q", "answer": True}, "row 2: answer: must be a string or a number, got bool True"),
    ({"problem": "q", "gt": {"v": 1}}, "row 2: gt: must be a string or a number, got dict"),
    ({"problem": "q", "reference": 1e300}, "row 2: reference: is absurdly large"),
]
DATASET_TEXT = [
    ('{"problem": "q", "answer": NaN}', "line 2 is not valid JSON: NaN is not valid JSON"),
    ('{"problem": "q", "idx": ' + "1" * 40 + "}", "integer with 40 digits is absurdly large"),
    ('{"problem": "q", "problem": "r"}', "duplicate key 'problem'"),
    ('["q"]', "line 2 is not a JSON object"), ('{"problem": ', "line 2 is not valid JSON"),
    ('{"a": ' * 70 + "1" + "}" * 70, "nested too deeply"),
]


def _dataset(tmp_path, line: str):
    f = tmp_path / "d.jsonl"
    f.write_text('{"problem": "1+1?", "answer": "2"}\n' + line + "\n")
    return f


@needs_engine
@pytest.mark.parametrize("line,needle", [(json.dumps(r), n) for r, n in DATASET_ROWS] + DATASET_TEXT)
def test_bad_dataset_row_in_eval(capsys, tmp_path, line, needle):
    f = _dataset(tmp_path, line)
    rc, _, err = run(capsys, "eval", "--dataset", f, "--model", "smollm2-135m", "-M", "2", "--out", tmp_path / "b.jsonl")
    assert_contract(rc, err, f"dataset {f}: ")
    assert needle in err and _names(tmp_path) == ["d.jsonl"]  # no bank, no .partial


@needs_engine
@pytest.mark.parametrize("cmd", [["run", "--model", "smollm2-135m"], ["validate", "--profile", "cpu-smollm2-135m",
                                                                      "--deadline", "300s"]])
def test_bad_dataset_row_in_run_and_validate(capsys, tmp_path, cmd):
    f = _dataset(tmp_path, json.dumps({"problem": "q", "answer": True}))
    rc, _, err = run(capsys, *cmd, "--dataset", f)
    assert_contract(rc, err, f"dataset {f}: row 2: answer: must be a string or a number, got bool True")


def test_valid_dataset_rows(tmp_path):
    from planner.executor.datasets import load_problems

    f = tmp_path / "d.jsonl"
    f.write_text('{"question": "1+1?", "gt": 2, "idx": 7}\n\n{"problem": "2+2?", "answer": 4.0}\n'
                 '{"problem": "x/2?", "answer": 0.5, "unique_id": "u"}\n')
    got = [(p.problem_id, p.question, p.reference) for p in load_problems(str(f))]
    assert got == [("7", "1+1?", "2"), ("1", "2+2?", "4"), ("u", "x/2?", "0.5")]
    assert [p.problem_id for p in load_problems(str(f), limit=2)] == ["7", "1"]


@needs_engine
@pytest.mark.parametrize("where,needle", [
    ("/dev/null", "dataset /dev/null is a character device, not a file"), ("DIR", "is a directory, not a file"),
    ("q" * 300 + ".jsonl", "File name too long"), ("missing.jsonl", "dataset not found"),
    ("EMPTY", "is empty")])
def test_bad_dataset_path(capsys, tmp_path, where, needle):
    (tmp_path / "empty.jsonl").write_text("\n")
    where = {"DIR": tmp_path, "EMPTY": tmp_path / "empty.jsonl"}.get(where, where)
    rc, _, err = run(capsys, "eval", "--dataset", where, "--model", "smollm2-135m", "--out", tmp_path / "b.jsonl")
    assert_contract(rc, err, needle)
    assert not (tmp_path / "b.jsonl").exists()


@pytest.mark.parametrize("cmd", [["run", "--model", "smollm2-135m"], ["eval", "--model", "smollm2-135m", "--out",
                                                                      "OUT"]])
@pytest.mark.parametrize("limit", ["0", "-1"])
def test_bad_limit(capsys, tmp_path, cmd, limit):
    cmd = [str(tmp_path / "b.jsonl") if c == "OUT" else c for c in cmd]
    rc, _, err = run(capsys, *cmd, "--dataset", "math500", "--limit", limit)
    assert_contract(rc, err, "--limit")
    assert _names(tmp_path) == []


# ---- grading without math-verify: said once, never silently wrong ----------------------------------------------

@pytest.mark.slow
def test_missing_math_verify_is_said_once(capsys, monkeypatch):
    from planner.executor import answers

    pytest.importorskip("math_verify")
    assert answers.is_correct("0.5", "\\frac12") is True  # the oracle: equivalent forms with math-verify
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "math_verify", None)  # a light install: the import fails
    monkeypatch.setattr(answers, "_noted", False)
    assert answers.is_correct("0.5", "\\frac12") is False and answers.is_correct("2", "2") is True
    answers.Equivalence()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: note: math-verify is not installed")
    assert 'pip install "math-verify' in err[0] and ".[engine]" in err[0]


# ---- output paths and contradictory flags ---------------------------------------------------------------------

def test_demo_out_is_a_file_or_under_one(capsys, tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("keep")
    rc, _, err = run(capsys, "demo", "--out", f)
    assert_contract(rc, err, "is a file; give a folder")
    rc, _, err = run(capsys, "demo", "--out", f / "sub")
    assert_contract(rc, err, "a parent of this folder is a file")
    assert f.read_text() == "keep" and _names(tmp_path) == ["f.txt"]


@pytest.mark.parametrize("args,needle", [
    (["recommend", "-d", "10s", "-o", "LONG"], "File name too long"),
    (["recommend", "-d", "10s", "-o", "MISSING/plan.json"], "does not exist"),
    (["recommend", "-d", "10s", "-o", "TMP"], "is a directory"),
    (["pareto", "--csv", "MISSING/front.csv"], "does not exist"),
    (["profiles", "derive", "h100-sxm-qwen2.5-7b", "-o", "TMP"], "is a directory"),
    (["calibrate", "--from-points", "POINTS", "--base-profile", BASE, "-o", "LONG"], "File name too long"),
    (["eval", "--dataset", "math500", "--model", "smollm2-135m", "--out", "LONG"], "File name too long"),
    (["run", "--prompt", "1+1?", "--model", "smollm2-135m", "--out", "MISSING/r.jsonl"], "does not exist"),
])
def test_bad_output_path(capsys, tmp_path, args, needle):
    points = tmp_path / "points.csv"
    points.write_text(HEAD + SPREAD)
    subst = {"LONG": tmp_path / ("o" * 300 + ".json"), "MISSING/plan.json": tmp_path / "no" / "plan.json",
             "MISSING/front.csv": tmp_path / "no" / "front.csv", "MISSING/r.jsonl": tmp_path / "no" / "r.jsonl",
             "TMP": tmp_path, "POINTS": points}
    rc, _, err = run(capsys, *[subst.get(a, a) for a in args])
    assert_contract(rc, err, needle)
    assert _names(tmp_path) == ["points.csv"]


@pytest.mark.parametrize("args,needle", [
    (["--from-points", "POINTS", "--endpoint", "http://127.0.0.1:9"], "--endpoint and --from-points contradict"),
    (["--from-points", "POINTS", "--base-profile", BASE, "--model", "smollm2-135m"], "runs no model: --model"),
    (["--from-points", "POINTS", "--base-profile", BASE, "--gpu"], "runs no model: --gpu does not apply"),
    (["--from-points", "POINTS", "--base-profile", BASE, "--quick"], "runs no model: --quick"),
    (["--from-points", "POINTS", "--base-profile", BASE, "--clock", "cpu"], "runs no model: --clock"),
    (["--from-points", "POINTS", "--base-profile", BASE, "--memory-gb", "80"],
     "--memory-gb and --base-profile contradict"),
    (["--endpoint", "http://127.0.0.1:9", "--threads", "2"], "--endpoint measures a server: --threads"),
    (["--endpoint", "http://127.0.0.1:9", "--acceptance-csv", "POINTS"], "--endpoint measures a server: --accept"),
    (["--model", "smollm2-135m", "--acceptance-csv", "POINTS"], "--acceptance-csv belongs to --from-points"),
    (["--model", "smollm2-135m", "--base-profile", BASE, "--memory-gb", "80"],
     "--base-profile, --memory-gb belongs to --from-points"),
])
def test_calibrate_flags_of_another_source_are_refused(capsys, tmp_path, args, needle):
    """Each calibration source reads its own flags; one given to another source was silently ignored."""
    points = tmp_path / "points.csv"
    points.write_text(HEAD + SPREAD)
    rc, _, err = run(capsys, "calibrate", *[points if a == "POINTS" else a for a in args], "-o", tmp_path / "o.json")
    assert_contract(rc, err, needle)
    assert _names(tmp_path) == ["points.csv"]


RUN = ["run", "--prompt", "1+1?", "--model", "smollm2-135m"]
EVAL = ["eval", "--dataset", "math500", "--model", "smollm2-135m", "--out", "OUT"]
VALIDATE = ["validate", "--profile", "cpu-smollm2-135m", "-d", "300s", "--dataset", "math500"]


@pytest.mark.parametrize("args,needle", [
    (RUN + ["-n", "1000000000"], "--branches: must be an integer in [1, 4096], got 1000000000"),
    (RUN + ["-n", "0"], "--branches: must be an integer in [1, 4096]"),
    (RUN + ["-k", "-1"], "--draft-len: must be an integer in [0, 16], got -1"),
    (RUN + ["-t", "nan"], "--temperature: must be a finite number, got nan"),
    (RUN + ["-t", "-1"], "--temperature: must be in [0, 5]"),
    (RUN + ["--top-p", "0"], "--top-p: must be in (0, 1]"),
    (RUN + ["--max-tokens", "0"], "--max-tokens: must be an integer in [1, 10000000]"),
    (RUN + ["--threads", "\u0662"], "--threads: expected an integer"),
    (RUN + ["--seed", "-1"], "--seed: must be an integer in [0, 4294967295]"),
    (EVAL + ["-M", "1000000000"], "--samples: must be an integer in [1, 4096]"),
    (EVAL + ["-k", "-1"], "--draft-len: must be an integer in [0, 16]"),
    (EVAL + ["-t", "inf"], "--temperature: must be a finite number"),
    (EVAL + ["--limit", "1e9"], "--limit: expected an integer"),
    (VALIDATE + ["--horizon", "nan"], "--horizon: must be a finite number"),
    (VALIDATE + ["--horizon", "0.5"], "--horizon: must be in [1, 1000]"),
    (VALIDATE + ["-t", "nan"], "--temperature: must be a finite number"),
    (VALIDATE + ["-q", "1"], "--quantile: must be in (0, 1)"),
    (VALIDATE + ["--max-draft-len", "99"], "--max-draft-len: must be an integer in [0, 16]"),
    (VALIDATE + ["--configs", "all", "--n-values", "1,1000000000"], "--n-values must be integers in 1..4096"),
    (VALIDATE + ["--configs", "all", "--n-values", "1,\u0662"], "--n-values must be comma-separated integers"),
    (VALIDATE + ["--configs", "all", "--n-values", "1,x"], "--n-values must be comma-separated integers"),
    (VALIDATE + ["--configs", "all", "--k-values", "0,99"], "--k-values must be integers in 0..16"),
    (["demo", "--problems", "1000000000"], "--problems: must be an integer in [1, 100000]"),
    (["demo", "-q", "nan"], "--quantile: must be a finite number"),
    (["demo", "--samples", "0"], "--samples: must be an integer in [1, 4096]"),
])
def test_numeric_flags_of_model_commands(capsys, tmp_path, args, needle):
    """run/eval/validate/demo flags are range-checked when parsed (they were plain int()/float(): NaN sampled,
    10^9 branches started, a negative K was an unexpected ValueError after the model loaded)."""
    rc, _, err = run(capsys, *[tmp_path / "b.jsonl" if a == "OUT" else a for a in args])
    assert_contract(rc, err, needle)
    assert _names(tmp_path) == []


@pytest.mark.parametrize("args,needle", [
    (["-d", "10s", "--objective", "accuracy", "--tolerance", "1pp"], "--tolerance and --objective accuracy contradict"),
    (["--target-accuracy", "0.5", "--tolerance", "1pp"], "--target-accuracy and --tolerance contradict"),
    (["--target-accuracy", "0.5", "--objective", "accuracy"], "--target-accuracy and --objective accuracy contradict"),
    (["--target-accuracy", "0.5", "--strategy", "greedy"], "--target-accuracy and --strategy greedy contradict"),
])
def test_recommend_flags_the_rule_would_ignore(capsys, tmp_path, args, needle):
    rc, _, err = run(capsys, "recommend", *args, "-o", tmp_path / "plan.json")
    assert_contract(rc, err, needle)
    assert _names(tmp_path) == []


@pytest.mark.parametrize("where,needle", [
    ("LONG", "cannot read plan file"), ("/dev/null", "plan file /dev/null is a character device, not a file"),
    ("DIR", "is a directory, not a file"), ("missing.json", "plan file not found")])
def test_bad_plan_path(capsys, tmp_path, where, needle):
    where = {"LONG": tmp_path / ("p" * 300 + ".json"), "DIR": tmp_path}.get(where, where)
    rc, _, err = run(capsys, "export", where, "--engine", "vllm", "--served-model", "org/m")
    assert_contract(rc, err, needle)


@pytest.mark.parametrize("where,needle", [
    ("LONG", "cannot read model config"), ("/dev/null", "model config /dev/null is a character device"),
    ("DIR", "model config not found"), ("missing.json", "model config not found")])
def test_bad_model_config_path(capsys, tmp_path, where, needle):
    where = {"LONG": tmp_path / ("c" * 300 + ".json"), "DIR": tmp_path}.get(where, where)
    rc, _, err = run(capsys, "recommend", "-d", "10s", "--model-config", where, "--gpu", "h100-sxm")
    assert_contract(rc, err, needle)


QWEN = json.loads((DATA / "qwen_math_cot_5.jsonl").read_text().splitlines()[0])


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d.update(num_tokens=[1e300] * len(d["pred"])), "samples[0].num_tokens must be at most 10000000"),
    (lambda d: d.update(pred_score=[[1e300]] * len(d["pred"])), "pred_score[0] must be a number or a list"),
    (lambda d: d.update(score=["yes"] * len(d["pred"])), "score[0] must be true or false, got 'yes'"),
    (lambda d: d.update(pred=d["pred"][:1]), "score must be a list of 1 booleans"),
    (lambda d: d.pop("idx"), "idx is missing"),
])
def test_bad_qwen_math_bank(capsys, tmp_path, edit, needle):
    d = copy.deepcopy(QWEN)
    edit(d)
    (tmp_path / "q.jsonl").write_text(json.dumps(d) + "\n")
    prof = _bank_profile(tmp_path, "q.jsonl")
    raw = json.loads(prof.read_text())
    raw["accuracy"]["format"] = "qwen-math"
    prof.write_text(json.dumps(raw))
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", prof)
    assert_contract(rc, err, f"qwen-math bank {tmp_path / 'q.jsonl'}: line 1: ")
    assert needle in err


@pytest.mark.parametrize("args,needle", [
    (["--model", "smollm2-135m", "--seed", "-5"], "--seed: must be an integer in [0, 4294967295], got -5"),
    (["--model", "smollm2-135m", "--threads", "100000"], "--threads: must be an integer in [1, 4096]"),
    (["--model", "smollm2-135m", "--max-seconds", "inf"], "--max-seconds: must be a finite number"),
    (["--model", "smollm2-135m", "--temperature", "nan"], "--temperature: must be a finite number"),
    (["--model", "smollm2-135m", "--top-p", "1.5"], "--top-p: must be in (0, 1]"),
    (["--from-points", "POINTS", "--model-config", "CFG", "--memory-gb", "inf"], "--memory-gb: must be a finite"),
    (["--from-points", "POINTS", "--model-config", "CFG", "--memory-gb", "1e9"], "--memory-gb: must be in (0, 1000000]"),
    (["--from-points", "POINTS", "--base-profile", BASE, "--tp", "0"], "--tp: must be an integer in [1, 64]"),
])
def test_calibrate_numeric_flags(capsys, tmp_path, args, needle):
    points = tmp_path / "points.csv"
    points.write_text(HEAD + SPREAD)
    subst = {"POINTS": points, "CFG": DATA / "qwen2.5-7b-config.json"}
    rc, _, err = run(capsys, "calibrate", *[subst.get(a, a) for a in args], "-o", tmp_path / "o.json")
    assert_contract(rc, err, needle)
    assert _names(tmp_path) == ["points.csv"]
