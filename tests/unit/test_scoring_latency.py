"""A reward model's scoring time in the cost model (planner/model/scoring.py): checked against the prefill formula
computed by hand, and majority voting left exactly as it was."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.model.lengths import LengthDist
from planner.model.scoring import scoring_time
from planner.optimize.cost import with_cost
from planner.optimize.evaluate import evaluate
from planner.optimize.exhaustive import best_index
from planner.profile.schema import Profile

ROOT = Path(__file__).resolve().parents[2]
CPU = ROOT / "profiles" / "cpu-smollm2-135m.json"
RM_ARCH = {"name": "tiny-rm", "params": 2.0e6, "layers": 2, "hidden": 64, "heads": 2, "kv_heads": 1,
           "head_dim": 32, "vocab": 26, "dtype_bytes": 4.0}


def _bank(path: Path, problems: int = 30, samples: int = 8, seed: int = 0) -> None:
    """Scored samples: right answers score higher on average, lengths spread, some problems all wrong."""
    rng = random.Random(seed)
    rows = []
    for i in range(problems):
        p = rng.uniform(0.2, 0.8)
        smp = []
        for _ in range(samples):
            ok = rng.random() < p
            smp.append({"answer": "7" if ok else str(rng.randint(0, 5)), "correct": ok,
                        "num_tokens": rng.randint(10, 120), "score": rng.gauss(1.0 if ok else 0.0, 1.0)})
        rows.append({"schema": "tts-bank/1", "problem_id": f"p{i}", "reference": "7", "samples": smp})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _profile(tmp_path: Path, scorer: dict | None) -> Profile:
    tmp_path.mkdir(exist_ok=True)
    d = json.loads(CPU.read_text())
    _bank(tmp_path / "b.jsonl")
    d["accuracy"] = {"kind": "bank", "path": "b.jsonl", "format": "tts-bank"}
    d["lengths"] = {"kind": "empirical", "tokens": [10, 20, 35, 50, 70, 90, 120], "between_share": 0.3}
    if scorer is not None:
        d["scorer"] = scorer
    (tmp_path / "p.json").write_text(json.dumps(d))
    return Profile.from_dict(d, origin=str(tmp_path / "p.json"))


def test_roofline_scoring_equals_the_prefill_formula_by_hand(tmp_path):
    p = _profile(tmp_path, {"name": "tiny-rm", "arch": RM_ARCH})
    c = p.step                                   # the target's coefficients: same device, hard roofline
    ans = 40.0
    q = p.prompt_tokens + ans                    # tokens per answer the reward model reads
    for N in (1, 4, 16):
        weights = RM_ARCH["params"] * 4.0 / (c.weight_bw_GBps * 1e9)
        kv = N * (q / 2) * (2 * 2 * 1 * 32 * 4.0) / (c.kv_bw_GBps * 1e9)
        flops = (2 * RM_ARCH["params"] + 4 * 2 * 2 * 32 * (q / 2)) * N * q / (c.tflops * 1e12)
        hand = c.t0_s + max(weights + kv, flops)
        assert float(scoring_time(p, N, ans)) == pytest.approx(hand, rel=1e-12)


def test_measured_prefill_coefficients_price_every_token_of_the_batch(tmp_path):
    p = _profile(tmp_path, {"name": "rm", "prefill": {"t0_s": 0.01, "s_per_token": 2e-5}})
    assert float(scoring_time(p, 8, 30.0)) == pytest.approx(0.01 + 2e-5 * 8 * (p.prompt_tokens + 30.0))


def test_best_of_n_pays_scoring_and_majority_is_unchanged(tmp_path):
    free = _profile(tmp_path / "a", None)
    scored = _profile(tmp_path / "b", {"name": "rm", "prefill": {"t0_s": 0.05, "s_per_token": 1e-3}})
    N = np.array([1, 2, 4, 8])
    for deadline in (None, 4.0):
        a = evaluate(free, deadline, n_values=N)
        b = evaluate(scored, deadline, n_values=N)
        assert a.methods == b.methods == ("majority", "best_of_n", "weighted_majority")
        np.testing.assert_array_equal(a.acc[0], b.acc[0])               # majority: untouched
        s = 0.05 + 1e-3 * N * (scored.prompt_tokens + LengthDist(scored.lengths).mean())
        for m in (1, 2):
            np.testing.assert_allclose(b.lat("q")[m] - a.lat("q")[m], np.broadcast_to(s, a.latency["q"].shape))
            cfg = with_cost(b, (m, 0, 3))
            assert cfg["scoring_s"] == pytest.approx(s[3])
            assert cfg["latency_s"]["mean"] == pytest.approx(float(a.latency["mean"][0, 3]) + s[3])
        assert "scoring_s" not in with_cost(b, (0, 0, 3))
        np.testing.assert_array_equal(b.lat("q")[0], a.lat("q")[0])
        if deadline is None:
            np.testing.assert_array_equal(a.acc, b.acc)                 # no deadline: scoring cuts nothing
        else:
            # a scored method's branches have D - s(N) to finish: the finish share the model gives the free
            # profile at that earlier deadline, N by N
            for j, n in enumerate(N):
                early = evaluate(free, deadline - s[j], n_values=np.array([n]))
                assert b.scored_finish[0, j] == pytest.approx(early.finish[0, 0], abs=1e-12)
                assert b.acc[1, 0, j] == pytest.approx(early.acc[1, 0, 0], abs=1e-12)


def test_scoring_can_make_best_of_n_miss_a_deadline_majority_meets(tmp_path):
    scored = _profile(tmp_path, {"name": "slow-rm", "prefill": {"t0_s": 2.0, "s_per_token": 0.0}})
    ev = evaluate(scored, 1.0 + float(evaluate(scored, None, n_values=np.array([2])).latency["q"][0, 0]),
                  n_values=np.array([2]))
    ok = ev.feasible()
    assert ok[0, 0, 0] and not ok[1, 0, 0] and not ok[2, 0, 0]
    assert ev.methods[best_index(ev)[0]] == "majority"


def test_a_scorer_without_arch_or_prefill_is_refused(tmp_path):
    with pytest.raises(PlannerError, match="scorer.arch is missing"):
        _profile(tmp_path, {"name": "rm"})


def test_profiles_without_a_scorer_have_no_scoring():
    p = Profile.from_dict(json.loads(CPU.read_text()), origin=str(CPU))
    assert p.scorer is None and evaluate(p, 60.0, n_values=np.array([1, 4])).scoring is None
