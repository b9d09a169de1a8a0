"""Latency model: formulas against hand-computed values, and monotonicity properties."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.model.latency import StepModel, latency_grid, round_time, tau, prefill_time
from planner.model.lengths import LengthDist
from planner.profile.schema import LengthSpec, Profile

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def prof() -> Profile:
    return Profile.from_dict(json.loads((DATA / "profile_test.json").read_text()), origin=str(DATA / "x.json"))


def test_step_time_memory_bound_by_hand(prof):
    sm = StepModel(prof.step, prof.model)
    # W = 2e9 B at 1e12 B/s = 2 ms; KV per token = 2*10*2*128*2 = 10240 B; B=4, L=1000 -> 40.96 MB -> 0.04096 ms
    # compute: (2e9 + 4*10*8*128*1000) * 4 * 1 / 1e14 = (2e9 + 4.096e7)*4/1e14 = 0.0816384 ms < memory
    t = sm.time(4, 1, 1000)
    assert t == pytest.approx(0.001 + 0.002 + 4.096e-5, rel=1e-9)


def test_step_time_compute_bound_by_hand(prof):
    sm = StepModel(prof.step, prof.model)
    # B=128, q=9, L=0: compute = 2e9*128*9/1e14 = 23.04 ms > memory 2 ms
    assert sm.time(128, 9, 0) == pytest.approx(0.001 + 0.02304, rel=1e-9)


def test_tensor_parallel_splits_weights_and_adds_allreduce(prof):
    c = replace(prof.step, allreduce_s=1e-5)
    one = StepModel(c, prof.model, 1).time(1, 1, 0)
    two = StepModel(c, prof.model, 2, interconnect_GBps=100).time(1, 1, 0)
    # weights halve (2 ms -> 1 ms); all-reduce: 2 per layer * (10 us + 1*1*1024*2 B / 100 GB/s)
    assert one - two == pytest.approx(0.001 - 2 * 10 * (1e-5 + 2048 / 1e11), rel=1e-9)


def test_tau_hand_values_and_bounds():
    a = np.array([0.8, 0.5, 0.5])
    assert tau(a, 0) == 1.0
    assert tau(a, 1) == pytest.approx(1.8)
    assert tau(a, 3) == pytest.approx(1 + 0.8 + 0.4 + 0.2)
    iid = np.full(8, 0.7)
    for k in range(9):
        assert tau(iid, k) == pytest.approx((1 - 0.7 ** (k + 1)) / (1 - 0.7))
        assert 1.0 <= tau(iid, k) <= k + 1


def test_round_time_adds_draft_steps(prof):
    B, L = 8, 600
    t = round_time(prof, 3, B, L)
    target = StepModel(prof.step, prof.model).time(B, 4, L)
    draft = StepModel(prof.draft.step, prof.draft.arch).time(B, 1, L)
    assert t == pytest.approx(target + 3 * draft)


def test_single_branch_nearly_fixed_length_by_hand(prof):
    # sigma tiny: every branch ~ 500 tokens; N=1, K=0: the prefill gives the first token, then
    # T = prefill + sum over 499 decode steps of t(1, 1, 100 + x)
    p = replace(prof, lengths=LengthSpec("lognormal", 500, 1e-4, 16, 4096))
    g = latency_grid(p, [1], [0])
    sm = StepModel(p.step, p.model)
    x = np.arange(499) + 1.0           # decoding token k + 1 reads a context of 100 + k
    expect = prefill_time(p) + sm.time(1, 1, 100 + x).sum()
    assert g.mean[0, 0] == pytest.approx(expect, rel=1e-3)   # 500 steps would be 2e-3 over
    assert g.q[0.9][0, 0] == pytest.approx(expect, rel=1e-3)
    one = replace(prof, lengths=LengthSpec("lognormal", 1, 1e-4, 1, 4096))   # one-token answers: prefill only
    assert latency_grid(one, [1, 8], [0])._T.max() == pytest.approx(prefill_time(one), rel=1e-3)


def test_speculation_divides_rounds_by_tau(prof):
    p = replace(prof, lengths=LengthSpec("lognormal", 500, 1e-4, 16, 4096))
    g = latency_grid(p, [1], [0, 4])
    pre = prefill_time(p)
    t_k0 = (g.mean[0, 0] - pre) / 499
    t_k4 = (g.mean[1, 0] - pre) / (499 / tau(np.full(8, 0.8), 4))
    sm, dm = StepModel(p.step, p.model), StepModel(p.draft.step, p.draft.arch)
    assert t_k4 == pytest.approx((sm.time(1, 5, 350) + 4 * dm.time(1, 1, 350)), rel=0.02)
    assert t_k0 == pytest.approx(sm.time(1, 1, 350), rel=0.02)


def test_latency_non_decreasing_in_n_and_quantiles_ordered(prof):
    N = np.arange(1, 257)
    g = latency_grid(prof, N, np.arange(9))
    for arr in (g.mean, g.q[0.5], g.q[0.9], g.q[0.99]):
        assert np.all(np.diff(arr, axis=1) >= -1e-9)
    assert np.all(g.q[0.5] <= g.q[0.9] + 1e-12) and np.all(g.q[0.9] <= g.q[0.99] + 1e-12)


def test_p_meet_and_finish_fraction_are_consistent(prof):
    g = latency_grid(prof, np.array([1, 8, 64]), np.array([0, 2]))
    p90 = g.q[0.9]
    pm = g.p_meet(float(p90[0, 1]))
    assert pm[0, 1] == pytest.approx(0.9, abs=0.02)
    assert np.all(g.finish_fraction(None) == 1.0)
    f_short, f_long = g.finish_fraction(0.5), g.finish_fraction(50.0)
    assert np.all(f_short <= f_long) and np.all((0 <= f_short) & (f_long <= 1))


def test_lognormal_length_quantile_inverts_cdf():
    d = LengthDist(LengthSpec("lognormal", 500, 0.6, 16, 4096))
    u = np.linspace(0.01, 0.99, 50)
    assert np.allclose(d.cdf(d.quantile(u)), u, atol=1e-9)
    assert d.quantile(0.5) == pytest.approx(500, rel=0.01)
    e = LengthDist(LengthSpec("empirical", tokens=(100, 200, 300, 400, 500), min_tokens=100, max_tokens=500))
    assert e.cdf(300) == pytest.approx(0.5) and e.quantile(0.25) == pytest.approx(200)


def test_max_tokens_cap_bounds_latency_and_stops_answers(prof):
    free = LengthDist(prof.lengths)
    capped = LengthDist(prof.lengths, cap=600)
    assert capped.answer_share == pytest.approx(float(free.cdf(600)))
    assert capped.quantile(0.999) == 600 and capped.answered(10_000) == pytest.approx(capped.answer_share)
    N, K = np.array([1, 16, 128]), np.array([0, 3])
    g_free, g_cap = latency_grid(prof, N, K, free), latency_grid(prof, N, K, capped)
    assert np.all(g_cap.q[0.99] < g_free.q[0.99])
    assert np.all(g_cap.finish_fraction(None) == pytest.approx(capped.answer_share))
    assert np.all(g_cap.finish_fraction(1e6) <= capped.answer_share + 1e-12)


def test_ngram_draft_rate_blends_plain_rounds(prof):
    # An n-gram drafter that finds a match in only 40 % of rounds: 60 % of rounds are plain decode steps
    # and tokens per round shrink to 1 + 0.4 * (tau - 1).
    ng = replace(prof, draft=replace(prof.draft, kind="ngram", arch=None, step=None),
                 acceptance=replace(prof.acceptance, draft_rate=0.4),
                 lengths=LengthSpec("lognormal", 500, 1e-4, 16, 4096))
    sm = StepModel(ng.step, ng.model)
    B, L = 4, 300
    assert round_time(ng, 3, B, L) == pytest.approx(0.4 * sm.time(B, 4, L) + 0.6 * sm.time(B, 1, L))
    assert round_time(ng, 0, B, L) == pytest.approx(sm.time(B, 1, L))
    g = latency_grid(ng, [1], [0, 3])
    t_tok = (g.mean[1, 0] - prefill_time(ng)) / 500
    tau3 = 1 + 0.4 * (tau(np.full(8, 0.8), 3) - 1)
    assert t_tok == pytest.approx(float(round_time(ng, 3, 1, 350)) / tau3, rel=0.02)


def test_verify_overhead_is_charged_to_speculative_rounds_only(prof):
    base = replace(prof, step=replace(prof.step, verify_s=None))
    extra = replace(prof, step=replace(prof.step, verify_s=0.002))
    assert round_time(extra, 0, 4, 500) == pytest.approx(round_time(base, 0, 4, 500))
    assert round_time(extra, 3, 4, 500) == pytest.approx(round_time(base, 3, 4, 500) + 0.002)


def test_acceptance_measured_at_a_draft_length_sets_its_tokens_per_round(prof):
    from planner.model.latency import tokens_per_round

    alpha = prof.acceptance.alpha
    by_k = replace(prof, acceptance=replace(prof.acceptance, by_draft_len={2: (0.5, 0.5)}),
                   lengths=LengthSpec("lognormal", 500, 1e-4, 16, 4096))
    got = tokens_per_round(by_k, [0, 1, 2, 3])
    pooled = tau(np.asarray(alpha + (alpha[-1],) * 3), [1, 3])
    assert got[0] == 1.0 and got[2] == pytest.approx(1 + 0.5 + 0.25)
    assert got[[1, 3]] == pytest.approx(pooled)          # K not measured on its own: the pooled alpha
    # the latency model divides the rounds by it: K = 2 takes (2.69.. / 1.75) times as long per token as pooled
    flat = replace(by_k, acceptance=replace(by_k.acceptance, by_draft_len=None))
    g, g0 = latency_grid(by_k, [1], [2]), latency_grid(flat, [1], [2])
    ratio = (g.mean[0, 0] - prefill_time(by_k)) / (g0.mean[0, 0] - prefill_time(flat))
    assert ratio == pytest.approx(float(tokens_per_round(flat, 2)) / 1.75, rel=1e-6)


def test_speed_factors_mix_the_machine_s_moments_into_quantiles_not_the_mean(prof):
    fixed = replace(prof, lengths=LengthSpec("lognormal", 300, 1e-4, 16, 4096))
    jitter = replace(fixed, hardware=replace(fixed.hardware, speed_factors=(0.8, 1.2)))
    g, gj = latency_grid(fixed, [1, 4], [0, 2]), latency_grid(jitter, [1, 4], [0, 2])
    T = g.mean
    assert gj.mean == pytest.approx(T, rel=1e-9)                  # factors with mean 1 keep the mean
    assert gj.quantile(0.9) == pytest.approx(1.2 * g.quantile(0.9), rel=0.01)
    assert gj.quantile(0.4) == pytest.approx(0.8 * g.quantile(0.4), rel=0.01)
    d = float(T[0, 0])
    assert gj.p_meet(d) == pytest.approx(0.5 * (0.8 * T <= d) + 0.5 * (1.2 * T <= d), abs=0.05)
    assert np.all(gj.p_meet(1.25 * float(T.max())) == 1.0) and np.all(gj.p_meet(0.7 * float(T.min())) == 0.0)
    # a deadline between the two moments: half the requests (the fast ones) have answered
    ff = gj.finish_fraction(d)[0, 0]
    assert ff == pytest.approx(0.5 * g.finish_fraction(1e9)[0, 0], abs=0.05)


def _p_norm_step(prof, p, v=0.0):
    return StepModel(replace(prof.step, roofline_p=p, verify_s=v), prof.model)


def test_roofline_p_by_hand(prof):
    # B=8, q=4, L=0: memory 2 ms; compute 2e9*8*4/1e14 = 0.64 ms; p = 2 joins them as sqrt(2^2 + 0.64^2) ms
    sm = _p_norm_step(prof, 2.0, v=0.0005)
    assert sm.time(8, 4, 0) == pytest.approx(0.001 + 0.0005 + np.hypot(0.002, 0.00064), rel=1e-9)
    # p = 1: memory and compute add; a plain decode step (q = 1) pays no verify_s
    assert _p_norm_step(prof, 1.0, v=0.0005).time(8, 1, 0) == pytest.approx(0.001 + 0.002 + 0.00016, rel=1e-9)
    # absent: the hard roofline of old profiles (flat below the knee)
    assert StepModel(prof.step, prof.model).time(8, 4, 0) == pytest.approx(0.003, rel=1e-9)


def test_verify_time_non_decreasing_in_width_and_batch(prof):
    for p in (1.0, 3.0, 16.0, None):
        sm = _p_norm_step(prof, p, v=0.0006)
        q = np.arange(1, 10)
        for B in (1, 8, 64, 256):
            t = sm.time(B, q, 500)
            assert np.all(np.diff(t) >= 0)
        B = np.array([1, 2, 4, 16, 64, 256, 1024])
        for qq in (1, 4, 9):
            assert np.all(np.diff(sm.time(B, qq, 500)) >= 0)
    # with p finite, width costs before the knee: B=1 verify of 9 tokens is dearer than q = 2, without p it is not
    assert _p_norm_step(prof, 3.0).time(1, 9, 0) > _p_norm_step(prof, 3.0).time(1, 2, 0)
    assert StepModel(prof.step, prof.model).time(1, 9, 0) == StepModel(prof.step, prof.model).time(1, 2, 0)


def test_one_speculative_round_by_hand(prof):
    # K = 3 drafts, B = 4, L = 0, p = 1, verify_s = 0.5 ms. Target verify (q = 4): t0 1 ms + v 0.5 ms + memory 2 ms
    # + compute 2e9*4*4/1e14 = 0.32 ms. Draft step (q = 1) from the test profile's draft coefficients, times 3.
    c = replace(prof.step, roofline_p=1.0, verify_s=0.0005)
    p2 = replace(prof, step=c, draft=replace(prof.draft, step=replace(prof.draft.step, roofline_p=1.0)))
    d = prof.draft.step
    a = prof.draft.arch
    draft = d.t0_s + a.weight_bytes / (d.weight_bw_GBps * 1e9) + 2 * a.params * 4 / (d.tflops * 1e12)
    assert round_time(p2, 3, 4, 0) == pytest.approx(0.001 + 0.0005 + 0.002 + 0.00032 + 3 * draft, rel=1e-9)


def test_derived_h100_speedup_falls_with_batch():
    """The shipped H100 profile: speculative speed-up (decode step / (round / tau)) shrinks as the batch grows
    and turns into a slowdown at a large batch, as the published vLLM/SGLang GPU measurements do."""
    from planner.model.latency import tokens_per_round
    from planner.profile.store import load_profile

    p = load_profile("h100-sxm-qwen2.5-7b")
    B = np.array([1, 4, 16, 64, 256, 1024])
    K = 3
    s = round_time(p, 0, B, 600) / (round_time(p, K, B, 600) / tokens_per_round(p, np.array([K]))[0])
    assert np.all(np.diff(s) < 0) and s[0] > 1.3 and s[-1] < 1.0
