"""Latency under load (planner/model/load.py) against its oracle, a discrete-event simulation of the same engine
model (tools/load_sim.py): Poisson arrivals, FIFO admission on the KV budget, blocking prefills, rounds at the
total batch. Plus the zero-load limit (today's single-request model exactly) and the CLI's error contract."""

from __future__ import annotations

import numpy as np
import pytest

from planner import api
from planner.cli import main
from planner.model.load import EngineLoad, Load, kv_branches
from planner.optimize.evaluate import evaluate
from tools.load_sim import simulate

DEADLINE = 3.0


@pytest.fixture(scope="module")
def prof():
    return api.load_profile(None)


def _one(prof, n, k, rate):
    return evaluate(prof, DEADLINE, n_values=[n], k_values_=[k], load=Load(arrival_rate=rate))


def test_zero_load_is_the_single_request_model_exactly(prof):
    alone = evaluate(prof, DEADLINE)
    idle = evaluate(prof, DEADLINE, load=Load(arrival_rate=1e-300))
    for key in alone.latency:
        assert np.array_equal(alone.latency[key], idle.latency[key]), key
    assert np.array_equal(alone.p_meet, idle.p_meet)
    assert np.array_equal(alone.acc, idle.acc) and np.array_equal(alone.finish, idle.finish)
    light = evaluate(prof, DEADLINE, load=Load(arrival_rate=1e-6))
    assert np.allclose(light.latency["p90"], alone.latency["p90"], rtol=1e-3)  # quantile by another bisection


# (N, K): many branches with speculation (batch-sensitive) and few plain ones; loads as shares of capacity.
@pytest.mark.parametrize("n,k", [(8, 4), (2, 0)])
def test_model_matches_the_simulation_below_capacity(prof, n, k):
    cap = _one(prof, n, k, 1e-9).capacity[0, 0]
    for share in (0.2, 0.4, 0.6):
        rate = share * cap
        sim = simulate(prof, n, k, arrival_rate=rate, n_requests=800, seed=3)
        ev = _one(prof, n, k, rate)
        p90_sim = np.quantile(sim, 0.9)
        assert ev.latency["p90"][0, 0] == pytest.approx(p90_sim, rel=0.06), (share, p90_sim)
        assert ev.p_meet[0, 0] == pytest.approx(np.mean(sim <= DEADLINE), abs=0.03), share
    # and the load matters: at 60 % of capacity the simulation is slower than a request alone
    alone = np.quantile(simulate(prof, n, k, arrival_rate=1e-3 * cap, n_requests=150, seed=3), 0.9)
    assert p90_sim > alone * 1.03


def test_capacity_is_where_the_simulated_queue_stops_draining(prof):
    """Below capacity the last requests wait no longer than the first; above it their latency keeps growing."""
    n, k = 8, 4
    cap = _one(prof, n, k, 1e-9).capacity[0, 0]
    below = simulate(prof, n, k, arrival_rate=0.8 * cap, n_requests=600, seed=5, warmup=0.0)
    above = simulate(prof, n, k, arrival_rate=1.25 * cap, n_requests=600, seed=5, warmup=0.0)
    assert np.median(below[-100:]) < 1.5 * np.median(below[:100])
    assert np.median(above[-100:]) > 3.0 * np.median(above[:100])


def test_closed_loop_matches_the_simulation(prof):
    n, k, clients = 8, 4, 6
    sim = simulate(prof, n, k, concurrency=clients, n_requests=600, seed=7)
    ev = evaluate(prof, DEADLINE, n_values=[n], k_values_=[k], load=Load(concurrency=clients))
    assert ev.latency["p90"][0, 0] == pytest.approx(np.quantile(sim, 0.9), rel=0.12)
    assert ev.latency["mean"][0, 0] == pytest.approx(np.mean(sim), rel=0.12)


def test_kv_budget_by_hand(prof):
    """Branches at full context next to the target's and the draft's weights, as evaluate.memory_ok counts."""
    kv = kv_branches(prof, 8)
    from planner.optimize.evaluate import memory_ok

    assert memory_ok(prof, np.array([kv]), 8)[0] and not memory_ok(prof, np.array([kv + 1]), 8)[0]
    el = EngineLoad(prof, Load(arrival_rate=1.0), 8)
    assert list(el.slots(np.array([1, 8, kv, kv + 1]))) == [kv, kv // 8, 1, 0]


def test_fewer_branches_win_as_load_rises(prof):
    ns = [api.recommend(prof, DEADLINE, arrival_rate=r, max_draft_len=4).branches for r in (0.5, 5.0, 20.0)]
    assert ns[0] > ns[1] > ns[2], ns


@pytest.mark.parametrize("flags,needle", [
    (["--arrival-rate", "0"], "--arrival-rate"), (["--arrival-rate", "nan"], "--arrival-rate"),
    (["--arrival-rate", "-1"], "--arrival-rate"), (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "2", "--arrival-rate", "1"], "one of arrival rate"),
    (["--arrival-rate", "1000"], "beyond capacity"),
])
def test_bad_load_exits_2_with_one_line(flags, needle, capsys):
    assert main(["recommend", "--deadline", "3s", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: error:") and needle in err[0], err


def test_predict_beyond_its_capacity_states_it(prof, capsys):
    cap = _one(prof, 8, 4, 1e-9).capacity[0, 0]
    assert main(["predict", "-n", "8", "-k", "4", "--arrival-rate", f"{1.1 * cap:.4f}"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{cap:.3g} requests/s" in err and "\n" not in err


def test_batch_bound_step_sees_the_spread_of_the_background():
    """The calibrated vLLM-CPU replica of bench/load_engine.py (a round at batch 3 costs 2.1x batch 1) at that
    run's three per-replica rates and plans. The mean background gave every request the same slowdown (p50 = p90
    at N = 1, p90 27-44 % of the simulation's); the mixture over the number of requests met spreads it. Reached
    (docs/validation.md): p90 49-52 % of the simulation's, hit rate 8-30 points above it; the issue's 15 % / 5
    points are not reached on this step (the simulation's tail is a processor-sharing queue's)."""
    from bench.load import ENDPOINT_RUNS, endpoint_profile

    prof = endpoint_profile()
    for rate, n in ENDPOINT_RUNS:
        sim = simulate(prof, n, 0, arrival_rate=rate, n_requests=600, seed=1)
        ev = evaluate(prof, 19.0, n_values=[n], k_values_=[0], load=Load(arrival_rate=rate))
        p50, p90, p90_sim = ev.latency["p50"][0, 0], ev.latency["p90"][0, 0], np.quantile(sim, 0.9)
        assert 0.45 * p90_sim < p90 < 1.15 * p90_sim, (rate, p90, p90_sim)
        assert p90 > 1.15 * p50, (rate, p50, p90)                     # the spread: meeting a crowd is the tail
        assert abs(ev.p_meet[0, 0] - np.mean(sim <= 19.0)) < 0.35, rate
        assert np.quantile(sim, 0.9) > 1.15 * np.quantile(sim, 0.5)   # ... as in the simulation


def test_plan_at_a_load_is_the_simulated_one_and_a_budget_axis_at_load_agrees(prof):
    """The plan's figures under load are its cell's simulation (the token-level oracle tools/load_sim.py agrees
    within its Monte-Carlo error), they meet the deadline, and `--budgets` at a load with the profile's own
    max_tokens as the only budget is the same plan as without the budget axis (the refusal is gone)."""
    plan = api.recommend(prof, DEADLINE, arrival_rate=5.0, max_draft_len=4)
    sim = plan.predicted["load"]["simulated"]
    assert plan.predicted["latency_s"]["p90"] == pytest.approx(sim["p90"]) and sim["p90"] <= DEADLINE
    ref = np.concatenate([simulate(prof, plan.branches, plan.draft_len, arrival_rate=5.0, n_requests=1500, seed=s)
                          for s in range(3)])
    assert sim["p90"] == pytest.approx(np.quantile(ref, 0.9), rel=0.04)
    assert sim["stderr"]["p90"] > 0 and sim["requests"] > 1000
    one = api.recommend(prof, DEADLINE, arrival_rate=5.0, max_draft_len=4, budgets=[prof.lengths.max_tokens])
    assert (one.branches, one.draft_len, one.method) == (plan.branches, plan.draft_len, plan.method)
    assert one.predicted["latency_s"] == plan.predicted["latency_s"]
    assert plan.predicted["load"]["goodput_rps"] >= 5.0
