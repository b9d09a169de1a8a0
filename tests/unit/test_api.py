"""The public Python API against the CLI (an independent path through argparse and JSON): `recommend(...)`
equals `planner recommend --json`, `grid(...)` rows equal `planner predict --json` cells; the import rule
(recommend stays numpy-only, pandas only inside grid); the strategy registry's one return type; and the
docs/plan.md example, rendered from code here so it cannot drift (`PLANNER_UPDATE_DOCS=1` rewrites it)."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import planner
from planner.errors import PlannerError

ROOT = Path(__file__).resolve().parents[2]


def cli_json(*args):
    r = subprocess.run([sys.executable, "-m", "planner", *args, "--json"], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("api_args,cli_args", [
    (dict(profiles=None, deadline="60s"), ["recommend", "--deadline", "60s"]),
    (dict(profiles="h100-sxm-qwen2.5-3b", deadline=5.0, quantile=0.5, strategy="greedy"),
     ["recommend", "-d", "5s", "-p", "h100-sxm-qwen2.5-3b", "-q", "0.5", "--strategy", "greedy"]),
    (dict(profiles=["h100-sxm-qwen2.5-3b", "l40s-qwen2.5-7b"], deadline="20s", max_branches=32, max_draft_len=3,
          engine="sglang"),
     ["recommend", "-d", "20s", "-p", "h100-sxm-qwen2.5-3b", "-p", "l40s-qwen2.5-7b", "--max-branches", "32",
      "--max-draft-len", "3", "--engine", "sglang"]),
    (dict(profiles="a100-80gb-qwen2.5-7b", target_accuracy=0.8), ["recommend", "-p", "a100-80gb-qwen2.5-7b",
                                                                   "--target-accuracy", "0.8"]),
])
@pytest.mark.slow
def test_recommend_equals_cli_json(api_args, cli_args):
    plan = planner.recommend(**api_args)
    assert isinstance(plan, planner.Plan)
    # through JSON on both sides: the CLI's numbers went through json.dumps, so must ours
    assert json.loads(json.dumps(plan.to_dict())) == cli_json(*cli_args)


@pytest.mark.slow
def test_grid_rows_equal_predict_cells():
    prof, deadline = "h100-sxm-qwen2.5-7b", 3.0   # tight: some configurations miss it and some branches are cut
    df = planner.grid(prof, deadline, quantile=0.9, max_branches=128, max_draft_len=4)
    assert len(df) == 1 * 5 * 128 and df["branches"].between(1, 128).all()
    assert df["finished_share"].min() < 0.999          # the deadline cuts branches somewhere in the grid
    cols = {"latency_mean_s": ("latency_s", "mean"), "latency_p50_s": ("latency_s", "p50"),
            "latency_p90_s": ("latency_s", "p90"), "latency_p99_s": ("latency_s", "p99"),
            "latency_q_s": ("latency_q_s",), "accuracy": ("accuracy",), "accuracy_stderr": ("accuracy_stderr",),
            "p_meet_deadline": ("p_meet_deadline",), "finished_share": ("finished_share",)}
    for n, k in ((1, 0), (7, 2), (16, 4), (103, 1), (128, 3)):   # on and between the latency model's N subgrid
        cell = cli_json("predict", "-p", prof, "-n", str(n), "-k", str(k), "-d", f"{deadline}s")
        row = df[(df.branches == n) & (df.draft_len == k)]
        assert len(row) == 1
        row = row.iloc[0]
        for col, path in cols.items():
            want = cell
            for key in path:
                want = want[key]
            assert row[col] == pytest.approx(want, rel=1e-9, abs=1e-12), (n, k, col)
        feasible = cell["latency_q_s"] <= deadline and cell["fits_memory"]
        assert bool(row["feasible"]) == feasible


@pytest.mark.slow
def test_predict_returns_typed_prediction_equal_to_cli():
    pred = planner.predict("h200-qwen2.5-14b", branches=12, draft_len=3, deadline="8s")
    assert isinstance(pred, planner.Prediction) and pred.branches == 12 and pred.draft_len == 3
    assert json.loads(json.dumps(pred.to_dict())) == cli_json("predict", "-p", "h200-qwen2.5-14b", "-n", "12", "-k",
                                                               "3", "-d", "8s")


@pytest.mark.slow
def test_grid_agrees_with_recommend_choice():
    """The plan is the cheapest feasible grid row within max(0.5 point, |SE difference|) of the most accurate
    one (the selection rule, brute force on the DataFrame); objective accuracy gives the most accurate row."""
    plan = planner.recommend("h100-sxm-qwen2.5-3b", 10.0)
    df = planner.grid("h100-sxm-qwen2.5-3b", 10.0)
    ok = df[df.feasible]
    top = ok.loc[ok.accuracy.idxmax()]
    band = ok[ok.accuracy >= top.accuracy - np.maximum(0.005, (ok.accuracy_stderr - top.accuracy_stderr).abs())]
    assert plan.predicted["device_s_per_request"] == pytest.approx(band.device_s_per_request.min(), rel=1e-12)
    row = df[(df.method == plan.method) & (df.branches == plan.branches) & (df.draft_len == plan.draft_len)].iloc[0]
    assert row.feasible and row.accuracy == pytest.approx(plan.predicted["accuracy"], rel=1e-12)
    assert row.tokens_per_request == pytest.approx(plan.predicted["tokens_per_request"], rel=1e-12)
    best = planner.recommend("h100-sxm-qwen2.5-3b", 10.0, objective="accuracy")
    assert best.predicted["accuracy"] >= top.accuracy - 1e-4 and best.objective == "max_accuracy"
    assert plan.objective == "min_cost"


@pytest.mark.parametrize("profile,deadline,strategy", [
    (None, "60s", "exhaustive"), ("h100-sxm-qwen2.5-3b", "5s", "greedy"), ("l40s-qwen2.5-7b", "20s", "exhaustive"),
    ("h200-qwen2.5-32b", "30s", "optuna"), ("a100-80gb-qwen2.5-14b", "8s", "exhaustive")])
@pytest.mark.slow
def test_no_faster_runner_up_without_a_printed_reason(profile, deadline, strategy):
    plan = planner.recommend(profile, deadline, strategy=strategy, trials=80)
    pr = plan.predicted
    for i, r in enumerate(plan.runners_up, 1):
        if r["latency_q_s"] < pr["latency_quantile_s"] - 1e-9 or r["device_s_per_request"] < \
                pr["device_s_per_request"] - 1e-9:
            assert any(n.startswith(f"alt {i} is ") for n in plan.notes), (i, r, plan.notes)


@pytest.mark.parametrize("call,needle", [
    (lambda: planner.recommend(None, "60s", methods=["vibes"]), "unknown method 'vibes'"),
    (lambda: planner.recommend(None, "soon"), "cannot parse"),
    (lambda: planner.recommend(None, 60, strategy="magic"), "unknown strategy 'magic'"),
    (lambda: planner.recommend(None, 60, strategy="optuna", trials=0), "trials must be an integer"),
    (lambda: planner.recommend(None, 60, max_branches=0), "max_branches must be an integer in 1..4096"),
    (lambda: planner.recommend(None, 60, engine="tgi"), "unknown engine 'tgi'"),
    (lambda: planner.recommend(None), "give a deadline"),
    (lambda: planner.recommend([], 60), "at least one profile"),
    (lambda: planner.predict(None, branches=0), "branches must be an integer in 1..4096"),
    (lambda: planner.predict(None, branches=4, draft_len=2.5), "draft_len must be an integer"),
    (lambda: planner.grid(None, 60, quantile=1.0), "quantile must be in (0, 1)"),
    (lambda: planner.recommend(None, 60, tolerance=-0.001), "tolerance must be a number in [0, 1]"),
    (lambda: planner.recommend(None, 60, tolerance=float("nan")), "tolerance must be a number in [0, 1]"),
    (lambda: planner.recommend(None, 60, objective="speed"), "objective must be one of cost, accuracy"),
])
def test_api_bad_input_raises_planner_error(call, needle):
    with pytest.raises(PlannerError, match=re.escape(needle)):
        call()


@pytest.mark.slow
def test_import_rule_recommend_numpy_only_pandas_only_in_grid():
    code = ("import sys\nimport planner\nassert 'numpy' not in sys.modules, 'import planner pulls numpy'\n"
            "import planner.cli as c\nassert c.main(['recommend', '--deadline', '60s']) == 0\n"
            "heavy = sorted(m for m in ('pandas', 'scipy', 'torch', 'transformers', 'optuna', 'matplotlib') "
            "if m in sys.modules)\nassert not heavy, heavy\n"
            "planner.grid(None, 60, max_branches=4, max_draft_len=1)\nassert 'pandas' in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_strategy_registry_one_return_type():
    from planner.optimize.evaluate import evaluate
    from planner.optimize.strategies import STRATEGIES, Pick, SearchSettings, pick

    prof = planner.load_profile("h100-sxm-qwen2.5-3b")
    ev = evaluate(prof, 5.0, 0.9, n_max=32, k_max=3)
    for name in STRATEGIES:
        got = pick(name, ev, SearchSettings(trials=25, seed=1))
        assert isinstance(got, Pick) and got.grid is ev, name
        assert len(got.idx) == 3 and got.ev.feasible()[got.idx], name     # idx points into got.ev, feasibly
        assert got.config["latency_q_s"] <= 5.0
    never = evaluate(prof, 1e-3, 0.9, n_max=4, k_max=1)                  # nothing meets 1 ms
    assert all(pick(name, never, SearchSettings(trials=5)) is None for name in STRATEGIES)
    with pytest.raises(PlannerError, match="unknown strategy"):
        pick("magic", ev)
    with pytest.raises(PlannerError, match="trials"):
        SearchSettings(trials=0)


# ---- docs/plan.md example, rendered from the code ----------------------------------------------------------------

def _round(x, digits=4):
    if isinstance(x, float):
        return float(f"{x:.{digits}g}") if math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    return x


def render_plan_example() -> str:
    plan = planner.recommend(None, "60s").to_dict()
    sources = plan["profile"]["provenance"]["sources"]
    plan["profile"]["provenance"]["sources"] = sources[:1] + [f"... {len(sources) - 1} more"]
    left = len(plan["runners_up"]) - 1
    plan["runners_up"] = plan["runners_up"][:1]
    body = json.dumps(_round(plan), indent=2, ensure_ascii=False)
    vllm = plan["engines"]["vllm"]
    why = (f"`engines.vllm` is an error instead: {vllm['error']}." if "error" in vllm else
           "Every engine can run this plan.")
    return ("Written by `planner recommend --deadline 60s -o plan.json` (default profile). Rendered from the code\n"
            "by `tests/unit/test_api.py`, so it cannot drift: numbers rounded to 4 significant digits, provenance sources\n"
            f"cut to the first, {left} of the runners-up left out.\n\n"
            f"```json\n{body}\n```\n\n{why} More example plans, one per case the exporters distinguish, are in "
            "`tests/golden/export/plans/`.\n")


@pytest.mark.slow
def test_plan_doc_example_is_rendered_from_code():
    doc = ROOT / "docs" / "plan.md"
    text = doc.read_text()
    m = re.search(r"(## Example\n\n)(.*?)(\n## |\Z)", text, re.S)
    assert m, "docs/plan.md has no '## Example' section"
    want = render_plan_example()
    if os.environ.get("PLANNER_UPDATE_DOCS") == "1":
        doc.write_text(text[:m.start(2)] + want + text[m.end(2):])
        return
    assert m.group(2).strip() == want.strip(), "docs/plan.md example drifted: run PLANNER_UPDATE_DOCS=1 pytest " \
                                               "tests/unit/test_api.py -k plan_doc"
    rendered = json.loads(re.search(r"```json\n(.*?)\n```", want, re.S).group(1))
    assert rendered["engines"] and set(rendered["engines"]) == {"vllm", "sglang", "trtllm"}


@pytest.mark.slow
def test_api_doc_example_runs():
    """docs/api.md's code block runs as written (it is the page's promise)."""
    text = (ROOT / "docs" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)\n```", text, re.S).group(1)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "majority" in r.stdout
