"""The event-driven simulation a pick under load is confirmed by (planner/model/queue_sim.py,
planner/optimize/load_check.py) against oracles: the token-by-token simulation of the same engine model
(tools/load_sim.py), Erlang-D moments by hand, a lone request's latency summed round by round, batch means by
hand, and the pick by brute force over every simulated cell.

Discretization: tools/load_sim keeps a branch's real-valued length L and decodes until nothing is left (ceil(L)
tokens); queue_sim rounds L to the nearest token. Comparisons with that oracle hand queue_sim the oracle's
convention through its `dist` argument (_Ceil), so the two differ only in the engine's bookkeeping."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from planner import api
from planner.model import queue_sim as qs
from planner.model.latency import prefill_time, round_time
from planner.model.lengths import LengthDist
from planner.model.load import Load, kv_branches
from planner.optimize.evaluate import evaluate
from planner.optimize.load_check import REQUESTS, simulate_cell
from planner.optimize.select import TIE
from tools import load_sim

Z = 4.0   # tolerance in standard errors of the Monte-Carlo estimate


@pytest.fixture(scope="module")
def default():
    return api.load_profile(None)


@pytest.fixture(scope="module")
def endpoint():
    from bench.load import endpoint_profile

    return endpoint_profile()


class _Ceil:
    """The oracle's token counts: the ceiling of the real-valued length draw (module docstring)."""

    def __init__(self, p):
        self.d = LengthDist(p.lengths)

    def quantile(self, u):
        return np.ceil(self.d.quantile(u))


def _qs(p, N, K, seed, n, **kw):
    return qs.simulate(p, N, K, _Ceil(p), kv_branches(p, K), n_requests=n, seed=seed, **kw)


_ORACLE: dict = {}


def _oracle(p, N, K, seed, n, **kw):
    """tools/load_sim runs, cached: the token-level runs are this file's slow part."""
    key = (p.id, N, K, seed, n, tuple(sorted(kw.items())))
    if key not in _ORACLE:
        _ORACLE[key] = load_sim.simulate(p, N, K, n_requests=n, seed=seed, **kw)
    return _ORACLE[key]


def _pooled(runs) -> dict:
    """p50/p90 of independent runs pooled, and their SEs: batch means within a run (qs.stats), runs independent."""
    sts = [qs.stats(r, 0.9, None) for r in runs]
    lat = np.concatenate(runs)
    return {k: (float(np.quantile(lat, q)), math.sqrt(sum(s.se[k] ** 2 for s in sts)) / len(sts))
            for k, q in (("p50", 0.5), ("p90", 0.9))}


def _agree(a: dict, b: dict, teeth: float) -> None:
    for k in a:
        tol = Z * math.hypot(a[k][1], b[k][1])
        assert tol < teeth * b[k][0], (k, tol)          # the tolerance is narrow enough to mean something
        assert abs(a[k][0] - b[k][0]) <= tol, (k, a[k], b[k])


# (profile, rate/s, N, K, requests per run, widest tolerance as a share): speculation on the H100 profile; the
# batch-bound vLLM-CPU replica, whose processor-sharing tail keeps its quantiles' SEs wide (~4 % of p90 here)
OPEN = [("default", 5.0, 5, 3, 1500, 0.1), ("endpoint", 0.106, 1, 0, 3000, 0.25),
        ("endpoint", 0.0352, 3, 0, 3000, 0.25)]


@pytest.mark.parametrize("prof,rate,N,K,n,teeth", OPEN)
def test_open_loop_matches_the_token_level_oracle(prof, rate, N, K, n, teeth, request):
    """Independent seeds (three runs each): p50 and p90 within Z combined batch-means SEs (the same requests in
    both, request by request, is the tighter check below)."""
    p = request.getfixturevalue(prof)
    a = _pooled([_qs(p, N, K, s, n, rate=rate) for s in (0, 1, 2)])
    b = _pooled([_oracle(p, N, K, 100 + s, n, arrival_rate=rate) for s in (0, 1, 2)])
    _agree(a, b, teeth)


@pytest.mark.parametrize("prof,rate,N,K,n,teeth", OPEN)
def test_same_draws_give_the_same_latencies(prof, rate, N, K, n, teeth, request):
    """Common random numbers: both draw the lengths, then the arrivals, from one generator in the same layout, so
    one seed serves the same requests in both; what is left is bookkeeping (rounds timed at a stretch's mean
    context, a non-integer tokens per round), not Monte-Carlo error."""
    p = request.getfixturevalue(prof)
    r1, r2 = np.random.default_rng(100), np.random.default_rng(100)
    assert np.array_equal(qs.branch_lengths(p, _Ceil(p), n, N, r1), np.ceil(load_sim.sample_lengths(p, n, N, r2)))
    assert np.allclose(qs.arrival_times(n, r1, rate), np.cumsum(r2.exponential(1.0 / rate, n)))
    a, b = _qs(p, N, K, 100, n, rate=rate), _oracle(p, N, K, 100, n, arrival_rate=rate)
    assert len(a) == len(b)
    for q in (0.5, 0.9):
        assert np.quantile(a, q) == pytest.approx(np.quantile(b, q), rel=0.01), q
    assert abs(np.median(a / b) - 1) < 0.002
    assert np.quantile(np.abs(a / b - 1), 0.9) < 0.02


@pytest.mark.parametrize("D", [1, 4])
def test_round_robin_gaps_are_erlang(D):
    """Every D-th arrival of a Poisson stream at D x rate: gaps Erlang-D, mean 1 / rate, variance 1 / (D rate^2);
    the sample variance's SE from the Erlang's kurtosis: var * sqrt((2 + 6 / D) / n)."""
    rate, n = 2.0, 40000
    g = np.diff(qs.arrival_times(n, np.random.default_rng(3), rate, D), prepend=0.0)
    mean, var = 1.0 / rate, 1.0 / (D * rate ** 2)
    assert abs(g.mean() - mean) <= Z * math.sqrt(var / n)
    assert abs(g.var(ddof=1) - var) <= Z * var * math.sqrt((2 + 6 / D) / n)
    stats = pytest.importorskip("scipy.stats")
    assert stats.kstest(g, stats.gamma(D, scale=1.0 / (D * rate)).cdf).pvalue > 1e-3


def test_a_lone_request_is_its_rounds_summed(default):
    """At a vanishing rate every request is alone: with N = 1, K = 0 its latency is prefill(1) plus one round at
    batch 1 per token after the first, at that token's context, summed by hand over its own drawn length."""
    p, n = default, 1500
    lat = qs.simulate(p, 1, 0, LengthDist(p.lengths), kv_branches(p, 0), rate=1e-6, n_requests=n, seed=0)
    m = qs.branch_lengths(p, LengthDist(p.lengths), n, 1, np.random.default_rng(0))[:, 0].astype(int)
    top = int(m.max())
    rounds = round_time(p, np.zeros(top, dtype=int), np.ones(top), p.prompt_tokens + np.arange(1, top + 1))
    hand = float(prefill_time(p, np.array([1]))[0]) + np.concatenate([[0.0], np.cumsum(rounds)])[m - 1]
    assert np.allclose(lat, hand[n // 10:], rtol=1e-5)


@pytest.mark.parametrize("N,K", [(1, 0), (5, 3)])
def test_light_load_is_the_single_request_model(default, N, K):
    """Alone, requests are independent, so the closed form's quantile must lie between the order statistics of a
    distribution-free interval: ranks n q -/+ Z sqrt(n q (1 - q))."""
    p = default
    lat = np.sort(np.concatenate([qs.simulate(p, N, K, LengthDist(p.lengths), kv_branches(p, K), rate=1e-6,
                                              n_requests=1500, seed=s) for s in (0, 1)]))
    pred, n = api.predict(p, N, K).latency_s, len(lat)
    for key, q in (("p50", 0.5), ("p90", 0.9)):
        half = Z * math.sqrt(n * q * (1 - q))
        assert lat[int(n * q - half)] <= pred[key] <= lat[int(math.ceil(n * q + half))], (key, pred[key])
    assert abs(lat.mean() - pred["mean"]) <= Z * lat.std() / math.sqrt(n)


def test_deterministic_arrivals_never_queue(endpoint):
    """Round-robin over many replicas makes the gaps nearly constant; with every gap longer than any service no
    request meets another: the same requests (same seed, same lengths) take exactly as long as alone. Poisson at
    the same rate does queue them."""
    p, N, n, rate = endpoint, 3, 500, 1.0 / 30
    dist, kv = LengthDist(p.lengths), kv_branches(p, 0)
    alone = qs.simulate(p, N, 0, dist, kv, rate=1e-6, n_requests=n, seed=4, warmup=0.0)
    rng = np.random.default_rng(4)
    qs.branch_lengths(p, dist, n, N, rng)
    assert np.diff(qs.arrival_times(n, rng, rate, 2000)).min() > alone.max()   # the premise
    rr = qs.simulate(p, N, 0, dist, kv, rate=rate, round_robin=2000, n_requests=n, seed=4, warmup=0.0)
    assert np.allclose(rr, alone, rtol=1e-6, atol=1e-6)
    poisson = qs.simulate(p, N, 0, dist, kv, rate=rate, n_requests=n, seed=4, warmup=0.0)
    assert (poisson >= alone - 1e-6).all() and np.mean(poisson > 1.05 * alone) > 0.05


def test_closed_loop_matches_the_token_level_oracle(default):
    """C clients resubmitting on completion: independent seeds within Z SEs, and the same seed request by request."""
    p, N, K, C, n = default, 8, 4, 6, 800
    a = _pooled([_qs(p, N, K, s, n, concurrency=C) for s in (0, 1, 2)])
    b = _pooled([_oracle(p, N, K, 100 + s, n, concurrency=C) for s in (0, 1, 2)])
    _agree(a, b, teeth=0.1)
    same, oracle = _qs(p, N, K, 100, n, concurrency=C), _oracle(p, N, K, 100, n, concurrency=C)
    assert len(same) == len(oracle) and np.quantile(np.abs(same / oracle - 1), 0.9) < 0.02


def test_stats_batch_means_by_hand():
    """1..20 in 10 blocks of two: block means 1.5, 3.5, ..., 19.5 (step 2), so SE = sd / sqrt(10) with
    sd^2 = 2^2 * 10 * 11 / 12; block p90s a + 0.9 have the same spread; the deadline 10.5 splits the blocks
    5 / 5, so P(meet) 0.5 with SE sqrt((10 * 0.25 / 9) / 10) = 1/6."""
    st = qs.stats(np.arange(1.0, 21.0), 0.9, 10.5)
    se = math.sqrt(4 * 10 * 11 / 12) / math.sqrt(10)
    assert (st.mean, st.p50, st.p90, st.p_meet, st.requests) == pytest.approx((10.5, 10.5, 18.1, 0.5, 20))
    assert st.se["mean"] == pytest.approx(se) and st.se["p90"] == pytest.approx(se)
    assert st.se["q"] == pytest.approx(se) and st.se["p_meet"] == pytest.approx(1 / 6)
    flat = qs.stats(np.array([1.0, 2.0] * 10), 0.9, None)   # every block alike: no spread between blocks
    assert flat.se["mean"] == pytest.approx(0.0, abs=1e-12) and flat.p_meet is None and "p_meet" not in flat.se


@pytest.fixture(scope="module")
def rising(tmp_path_factory):
    """The endpoint replica with an accuracy that rises with N (its shipped one is a flat placeholder)."""
    from bench.load import ENDPOINT

    from planner.profile import load_profile

    base = json.loads((Path(__file__).resolve().parents[2] / "profiles" / "cpu-smollm2-135m.json").read_text())
    base.update(ENDPOINT, accuracy={"kind": "parametric", "beta_a": 2.0, "beta_b": 1.0, "wrong_mode_share": 0.3,
                                    "source": "test: accuracy rising with N"})
    for key in ("acceptance", "calibration"):
        base.pop(key, None)
    path = tmp_path_factory.mktemp("rising") / "endpoint.json"
    path.write_text(json.dumps(base))
    return load_profile(str(path))


_PLANS: dict = {}


def _plan(p, rate, d, n_max):
    if (rate, d, n_max) not in _PLANS:
        _PLANS[rate, d, n_max] = api.recommend(p, d, arrival_rate=rate, objective="accuracy", max_branches=n_max,
                                               methods=["majority"])
    return _PLANS[rate, d, n_max]


# (rate/s, deadline s, max branches): the closed form's pick misses the deadline in simulation at both
CONFIRM = [(0.0352, 30.0, 4), (0.02, 30.0, 5)]


@pytest.mark.parametrize("rate,d,n_max", CONFIRM)
def test_confirm_picks_what_simulating_every_cell_picks(rising, rate, d, n_max):
    """Brute force: simulate every (K = 0, N) cell; the most accurate whose simulated p90 meets the deadline, ties
    within TIE to the lower simulated p90 (select.py, objective accuracy)."""
    from planner.choice import choose
    from planner.optimize.select import Rule
    from planner.optimize.strategies import SearchSettings

    ev = evaluate(rising, d, 0.9, ("majority",), n_max=n_max, k_max=8, load=Load(arrival_rate=rate))
    assert list(ev.K) == [0] and list(ev.N) == list(range(1, n_max + 1))
    sims = [simulate_cell(ev, 0, i) for i in range(len(ev.N))]
    ok = [i for i, s in enumerate(sims) if s is not None and ev.fits_memory[i] and s.q <= d]
    acc = ev.acc[0, 0]
    best = min((i for i in ok if acc[i] >= max(acc[ok]) - TIE), key=lambda i: sims[i].q)
    screened = choose([ev], settings=SearchSettings(rule=Rule("accuracy")))
    assert screened.idx[2] != best   # the premise: the closed forms alone would pick another N
    plan = _plan(rising, rate, d, n_max)
    assert (plan.branches, plan.draft_len) == (int(ev.N[best]), 0)
    for key in ("p50", "p90", "p99", "mean"):
        assert plan.predicted["latency_s"][key] == pytest.approx(getattr(sims[best], key), rel=1e-12), key
    assert plan.predicted["p_meet_deadline"] == pytest.approx(sims[best].p_meet, rel=1e-12)


def test_plan_under_load_carries_the_simulation_and_a_fair_stderr(rising):
    """`predicted.load.simulated`: the plan's own figures with batch-means SEs; the SE of the p90 and the mean
    agree with the spread over independent seeds of the same cell (within a factor the 12 seeds resolve)."""
    rate, d, n_max = CONFIRM[0]
    plan = _plan(rising, rate, d, n_max)
    sim = plan.predicted["load"]["simulated"]
    assert sim["requests"] == REQUESTS - int(0.1 * REQUESTS)
    assert sim["p90"] == plan.predicted["latency_s"]["p90"] and sim["p_meet"] == plan.predicted["p_meet_deadline"]
    assert set(sim["stderr"]) == {"mean", "p50", "p90", "p99", "q", "p_meet"}
    assert all(v >= 0 and math.isfinite(v) for v in sim["stderr"].values())
    ev = evaluate(rising, d, 0.9, ("majority",), n_max=n_max, k_max=8, load=Load(arrival_rate=rate))
    n = plan.branches - 1
    seeds = [simulate_cell(ev, 0, n, seed=s) for s in range(1, 13)]
    for key in ("mean", "p90"):
        spread = np.std([getattr(s, key) for s in seeds], ddof=1)
        assert 0.4 * spread < sim["stderr"][key] < 2.5 * spread, (key, sim["stderr"][key], spread)


def test_predict_under_load_is_the_simulation(default):
    """`predict(..., arrival_rate=R)`: latency and P(meet) are the simulated cell's (same seed, same requests as a
    direct queue_sim run), with its SEs under `simulated`; without a load there is no `simulated`."""
    p, N, K, rate, d = default, 4, 2, 2.0, 3.0
    got = api.predict(p, N, K, deadline=d, arrival_rate=rate)
    lat = qs.simulate(p, N, K, LengthDist(p.lengths, cap=None), kv_branches(p, K), rate=rate, n_requests=REQUESTS)
    st = qs.stats(lat, 0.9, d)
    assert got.simulated is not None and got.simulated["stderr"]["p90"] == pytest.approx(st.se["p90"])
    for key in ("p50", "p90", "p99", "mean"):
        assert got.latency_s[key] == pytest.approx(getattr(st, key), rel=1e-12) == got.simulated[key], key
    assert got.p_meet_deadline == pytest.approx(st.p_meet)
    assert "simulated" not in api.predict(p, N, K, deadline=d).to_dict()


def _brute_trace(p, K, born, lengths):
    """Token by token over a given trace: FIFO admission with a blocking prefill per request (its first token),
    then rounds at the total batch and the mean context of the admitted branches, until every branch is done."""
    from planner.model.latency import tokens_per_round

    tau = float(tokens_per_round(p, np.array([K]))[0])
    N = len(lengths[0])
    pre = float(prefill_time(p, np.array([N]))[0])
    t, nxt, active, done = 0.0, 0, [], [math.nan] * len(born)
    while nxt < len(born) or active:
        if nxt < len(born) and born[nxt] <= t:
            t += pre
            active += [[nxt, L - 1.0, 1.0] for L in lengths[nxt]]
            nxt += 1
        elif not active:
            t = born[nxt]
            continue
        else:
            B = len(active)
            L = p.prompt_tokens + sum(a[2] for a in active) / B
            t += float(round_time(p, np.array([K]), np.array([B]), np.array([L]))[0])
            for a in active:
                a[1] -= tau
                a[2] += tau
        for a in [a for a in active if a[1] <= 1e-9]:
            active.remove(a)
            if not any(b[0] == a[0] for b in active):
                done[a[0]] = t
    return np.array(done) - np.array(born)


def test_a_replayed_trace_matches_a_brute_force_over_the_same_requests(endpoint):
    """queue_sim's `trace` (a measured run's own arrival times and branch lengths, bench/load_stats.replay): the
    same latencies per request as a token-by-token loop over that trace (the exact mean context per round, where
    queue_sim reads a table at the middle of each stretch of rounds: within 1 %)."""
    rng = np.random.default_rng(5)
    born = np.cumsum(rng.exponential(4.0, 30)).tolist()
    lengths = rng.integers(5, 49, size=(30, 2)).tolist()
    got = qs.simulate(endpoint, 2, 0, LengthDist(endpoint.lengths), kv_branches(endpoint, 0),
                      trace=(born, lengths), warmup=0.0)
    ref = _brute_trace(endpoint, 0, born, lengths)
    assert len(got) == 30 and np.all(ref > 0)
    assert np.allclose(got, ref, rtol=0.01), np.max(np.abs(got / ref - 1))
    assert np.max(got / np.array([float(prefill_time(endpoint, np.array([2]))[0])] * 30)) > 3   # they queue
