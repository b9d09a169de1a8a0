"""Branches split over data-parallel replicas (planner/model/replicas.py) against a brute-force simulation
(tools/split_sim.py, shared with bench/replicas.py), and the layout search (planner/optimize/layout.py) against
brute force over (T, D, N, K)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.model.latency import latency_grid
from planner.model.replicas import Layout, shares, split_grid, with_tp
from planner.optimize import layout as LO
from planner.optimize.evaluate import evaluate
from planner.optimize.exhaustive import candidates
from planner.optimize.select import Rule, select
from planner.profile.schema import Profile, StepCoeffs
from tools.split_sim import simulate_split

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def cpu_like() -> Profile:
    """A step whose time grows with the batch (a CPU): splitting branches over replicas pays off here."""
    p = Profile.from_dict(json.loads((DATA / "profile_test.json").read_text()), origin=str(DATA / "x.json"))
    return replace(p, step=StepCoeffs(t0_s=0.002, weight_bw_GBps=1e5, kv_bw_GBps=1e5, tflops=0.4))


@pytest.mark.parametrize("rho", [0.0, 0.8])
@pytest.mark.parametrize("N,D", [(8, 2), (7, 3), (16, 4), (3, 4)])
def test_split_over_replicas_matches_simulation(cpu_like, rho, N, D):
    p = replace(cpu_like, lengths=replace(cpu_like.lengths, between_share=rho or None))
    g = split_grid(p, [N], [0], None, D)
    sim = simulate_split(p, N, D, problems=3000)
    assert g.mean[0, 0] == pytest.approx(sim.mean(), rel=0.04)
    assert g.q[0.9][0, 0] == pytest.approx(np.quantile(sim, 0.9), rel=0.04)
    assert g.q[0.5][0, 0] == pytest.approx(np.quantile(sim, 0.5), rel=0.04)


def test_replicas_shorten_a_batch_bound_request(cpu_like):
    """On a batch-bound step two replicas of 8 finish well before one of 16 (and 16 replicas of 1 before both)."""
    one, two, all_ = (split_grid(cpu_like, [16], [0], None, D).q[0.9][0, 0] for D in (1, 2, 16))
    assert all_ < two < 0.8 * one


def test_one_replica_is_the_single_deployment_exactly(cpu_like):
    a, b = split_grid(cpu_like, np.arange(1, 9), [0], None, 1), latency_grid(cpu_like, np.arange(1, 9), [0])
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.q[0.9], b.q[0.9])


def test_finished_share_is_the_branch_weighted_mean_of_the_replicas(cpu_like):
    """7 branches on 3 replicas: 1 replica of 3, 2 of 2; by hand from the single-deployment grids."""
    g = split_grid(cpu_like, [7], [0], None, 3)
    one = latency_grid(cpu_like, [2, 3], [0])
    f2, f3 = one.finish_fraction(6.0)[0]
    assert g.finish_fraction(6.0)[0, 0] == pytest.approx((3 * f3 + 2 * 2 * f2) / 7, rel=1e-9)
    assert shares([7], 3) == (np.array([3]), np.array([2]), np.array([1]))


def test_layouts_respect_heads_nodes_and_network():
    from planner.profile import load_profile

    p = load_profile("h100-sxm-qwen2.5-7b")     # 28 heads, 4 KV heads: TP 1, 2, 4 (7 splits neither KV way)
    got = {(L.tp, L.replicas) for L in LO.layouts(p, 8)}
    assert {t for t, _ in got} == {1, 2, 4} and (1, 8) in got and (4, 2) in got and (4, 3) not in got
    two = LO.layouts(p, 8, nodes=2)                  # 4 per node; H100 nodes have a known network
    assert max(L.tp for L in two) == 4 and all(L.link_GBps == 450 for L in two)
    big = load_profile("h100-sxm-qwen2.5-32b")       # 40 heads, 8 KV heads: TP 8 spans two 4-GPU nodes
    wide = {L.tp: L for L in LO.layouts(big, 16, nodes=4)}
    assert wide[8].link_GBps == 50 and wide[8].replicas <= 2 and wide[4].link_GBps == 450 and 16 not in wide
    pcie = load_profile("l40s-qwen2.5-32b")          # no known network between L40S nodes: TP stays inside one
    assert max(L.tp for L in LO.layouts(pcie, 16, nodes=4)) == 4
    cpu = load_profile("cpu-smollm2-135m")           # no known network: TP never leaves a node
    assert max(L.tp for L in LO.layouts(cpu, 4, nodes=2)) <= 2
    with pytest.raises(PlannerError, match="--nodes 3 does not divide --gpus 8"):
        LO.layouts(p, 8, nodes=3)
    with pytest.raises(PlannerError, match="--gpus must be an integer"):
        LO.check_gpus(0, None)


def test_layout_search_equals_brute_force(cpu_like):
    """Every (T, D, method, K, N) evaluated one configuration at a time, the rule applied to the flat list,
    against the vectorised search's pick."""
    p = replace(cpu_like, lengths=replace(cpu_like.lengths, between_share=0.6))
    rule = Rule()
    evs = LO.evaluate_layouts(p, 30.0, 0.9, ("majority",), n_max=6, k_max=2, gpus=4, nodes=1)
    got = LO.choose(evs, rule)
    rows, keys = [], []
    for L in LO.layouts(p, 4):
        pt = with_tp(p, L.tp, L.link_GBps)
        for N in range(1, 7):
            for K in evs[0].K:
                ev = evaluate(pt, 30.0, 0.9, ("majority",), n_values=[N], k_values_=[int(K)], layout=L)
                ev.layout = L
                ev.fits_memory = np.ones(1, bool)
                idx, cols = candidates(ev, ev.feasible())
                if len(idx):
                    rows.append([c[0] for c in cols])
                    keys.append((L.tp, L.replicas, int(K), N))
    assert len({k[:2] for k in keys}) > 3
    best = keys[select(*np.array(rows).T, rule)]
    ev = got.ev
    assert (ev.layout.tp, ev.layout.replicas, int(ev.K[got.idx[1]]), int(ev.N[got.idx[2]])) == best


def test_concurrency_with_gpus_is_refused(cpu_like):
    from planner.model.load import Load

    with pytest.raises(PlannerError, match="--concurrency"):
        LO.evaluate_layouts(cpu_like, 30.0, 0.9, None, 4, 0, 2, 1, Load(concurrency=4))


def test_layout_round_trips_through_the_plan():
    from planner.plan import Plan

    L = Layout(2, 3, 8, 2, 450.0)
    d = L.to_dict(8)
    assert d["branches_per_replica"] == [3, 3, 2] and d["gpus_used"] == 6
    plan = {"schema": "tts-plan/1", "method": "majority", "branches": 8, "deadline_s": 5.0,
            "speculative": {"method": "none", "num_speculative_tokens": 0}, "predicted": {}, "profile": {"id": "x"},
            "model": {"name": "m", "tensor_parallel": 2}, "sampling": {"max_tokens": 64}, "layout": d}
    assert Plan.from_dict(plan).to_dict()["layout"] == d
    with pytest.raises(PlannerError, match="layout.tensor_parallel"):
        Plan.from_dict({**plan, "layout": {**d, "tensor_parallel": 0}})
    assert "layout" not in Plan.from_dict({k: v for k, v in plan.items() if k != "layout"}).to_dict()


@pytest.mark.parametrize("case", [dict(deadline="60s"), dict(deadline="5s", methods=["majority"]),
                                  dict(profiles="cpu-smollm2-135m", deadline="120s"),
                                  dict(deadline="30s", target_accuracy=0.8)])
def test_one_gpu_layout_is_todays_plan_exactly(case):
    """--gpus 1 (one replica of TP 1, no load) searches the same grid and must give today's plan, JSON for JSON;
    without --gpus the plan carries no layout at all."""
    from planner import api

    today = api.recommend(**case).to_dict()
    one = api.recommend(**case, gpus=1).to_dict()
    assert "layout" not in today and one.pop("layout")["gpus_used"] == 1
    assert json.dumps(one, sort_keys=True) == json.dumps(today, sort_keys=True)


def test_under_load_each_replica_serves_its_share_of_whole_requests():
    """--gpus G with a Poisson rate R: whole requests dealt round-robin, R / D per replica, so the layout's latency
    is one replica's at R / D with Erlang-D gaps: no slower than at Poisson R / D (smoother arrivals queue less),
    faster than one replica at R, and its cost counts all D replicas."""
    from planner import api

    two = api.predict("h100-sxm-qwen2.5-7b", 16, 0, arrival_rate=2.0, gpus=2)
    one = api.predict("h100-sxm-qwen2.5-7b", 16, 0, arrival_rate=1.0)
    assert two.layout["routing"] == "requests"
    assert two.latency_s["p90"] <= one.latency_s["p90"] + 2 * one.simulated["stderr"]["p90"]
    assert two.device_s_per_request == pytest.approx(2 * two.latency_s["mean"], rel=1e-9)
    alone = api.predict("h100-sxm-qwen2.5-7b", 16, 0, arrival_rate=2.0)
    assert two.latency_s["p90"] < alone.latency_s["p90"]


def test_predict_split_equals_the_layout_model(cpu_like):
    """predict --gpus 4 on a TP-1 profile: 4 replicas, the split grid's numbers, 4 GPUs in the cost."""
    from planner import api

    pred = api.predict(cpu_like, 8, 0, deadline=30.0, gpus=4)
    g = split_grid(cpu_like, [8], [0], None, 4)
    assert pred.latency_s["p90"] == pytest.approx(float(g.q[0.9][0, 0]), rel=1e-9)
    assert pred.layout["branches_per_replica"] == [2, 2, 2, 2]
    assert pred.device_s_per_request == pytest.approx(4 * min(float(g.mean[0, 0]), 30.0), rel=1e-9)


def test_pareto_over_layouts_is_the_front_of_all_their_configurations(tmp_path, capsys):
    """pareto --gpus 2: latency and accuracy both increase along the front, and no configuration of any layout
    within the latency cap beats a front point on both (brute force over every layout's whole grid)."""
    from planner import cli

    out = tmp_path / "front.csv"
    assert cli.main(["pareto", "--gpus", "2", "--max-latency", "3s", "--csv", str(out)]) == 0
    rows = [r.split(",") for r in out.read_text().splitlines()[1:]]
    lat, acc = np.array([float(r[4]) for r in rows]), np.array([float(r[5]) for r in rows])
    assert np.all(np.diff(lat) >= 0) and np.all(np.diff(acc) > 0)
    assert {r[0] for r in rows} <= {"TP1x1", "TP1x2", "TP2x1"}
    from planner.profile import load_profile

    evs = LO.evaluate_layouts(load_profile(None), 3.0, 0.9, None, 256, 8, 2, 1)
    for ev in evs:
        ok = ev.fits_memory[None, None, :] & (ev.lat("q") <= 3.0)
        L, A = ev.lat("q")[ok], ev.acc[ok]
        for lq, a in zip(lat, acc):   # nothing strictly faster and more accurate than a front point
            assert not np.any((L < lq - 1e-9) & (A > a + 1e-6))
        assert A.max() <= acc.max() + 1e-6


def test_layout_plan_under_load_states_its_goodput_and_is_simulated(cpu_like):
    """recommend --gpus 2 --arrival-rate R: the pick is a simulated cell (round-robin replicas: Erlang-2 gaps at
    R / D each), its goodput (over the replicas) is at least R and the plan says it in a note, as on one GPU."""
    from planner import api

    alone = api.recommend(cpu_like, 30.0, arrival_rate=1e-4, max_branches=4)
    rate = 0.3 * alone.predicted["load"]["goodput_rps"]
    plan = api.recommend(cpu_like, 30.0, arrival_rate=rate, max_branches=4, gpus=2)
    load = plan.predicted["load"]
    assert load["simulated"]["p90"] == pytest.approx(plan.predicted["latency_s"]["p90"])
    assert load["goodput_rps"] >= rate and load["arrival_rate"] == rate
    assert any(n.startswith("goodput:") and f"{load['goodput_rps']:.3g}" in n for n in plan.notes), plan.notes
