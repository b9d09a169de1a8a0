"""Speculative sampling at T > 0 must be lossless: the tokens it emits follow the target's distribution.

Statistical tests use fixed seeds (so they are deterministic) and a chi-square goodness-of-fit with
p-value > 1e-3 as tolerance; a negative control (a verifier that accepts every draft) must fail the same
test, which shows the test has the power to catch a wrong sampler."""

import pytest

from conftest import needs_torch

pytestmark = needs_torch


def _chi2_pvalue(samples, probs, min_expected=5.0):
    """Goodness of fit of integer samples to `probs`; cells with small expectation are pooled."""
    import numpy as np
    from scipy.stats import chisquare

    n = len(samples)
    obs = np.bincount(np.asarray(samples), minlength=len(probs)).astype(float)
    exp = np.asarray(probs, dtype=float) * n
    big = exp >= min_expected
    o = np.append(obs[big], obs[~big].sum())
    e = np.append(exp[big], exp[~big].sum())
    if e[-1] == 0:
        o, e = o[:-1], e[:-1]
    return float(chisquare(o, e * o.sum() / e.sum()).pvalue)


def test_sample_follows_each_row_and_never_draws_a_zero_probability_token():
    import torch

    from planner.engine.sampling import sample

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0],          # zeros first, inside and last
                          [2.0, 0.0, 1.0, 0.5, 0.5, 0.0]])         # not normalised (sums to 4)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([sample(probs, gen) for _ in range(4000)])  # [4000, 2]
    for row in range(2):
        got = draws[:, row].tolist()
        p = (probs[row] / probs[row].sum()).tolist()
        assert all(p[t] > 0 for t in got)
        assert _chi2_pvalue(got, p) > 1e-3
    # a wrong sampler (always the first nonzero token) fails the same test
    assert _chi2_pvalue([1] * 4000, (probs[0] / probs[0].sum()).tolist()) < 1e-3
    # several blocks of the two-level CDF, a whole block of zeros, a tail that does not fill its block
    wide = torch.zeros(1, 600)
    wide[0, :256] = torch.rand(256, generator=torch.Generator().manual_seed(1))
    wide[0, 520:600:7] = 0.5
    got = torch.stack([sample(wide, gen) for _ in range(6000)])[:, 0].tolist()
    p = (wide[0] / wide[0].sum()).tolist()
    assert all(p[t] > 0 for t in got) and _chi2_pvalue(got, p) > 1e-3
    one = torch.zeros(3, 49152)
    one[0, 7], one[1, -1], one[2, 0] = 1.0, 1.0, 1.0                # one-hot rows, a long vocabulary
    assert sample(one, gen).tolist() == [7, 49151, 0]


def test_two_level_cdf_draws_what_one_float64_cdf_of_the_row_draws():
    """The block-wise CDF is an exact rearrangement of the row's float64 CDF: the same uniform number picks the
    same token (the docs' "same tokens" claim; 50 draws of 16 rows at SmolLM2's vocabulary size)."""
    import torch

    from planner.engine.sampling import sample

    def one_level(probs, gen):
        c = probs.double().cumsum(-1)
        u = torch.rand((probs.shape[0], 1), generator=gen, dtype=torch.float64) * c[:, -1:]
        return torch.minimum(torch.searchsorted(c, u, right=True), (c < c[:, -1:]).sum(-1, keepdim=True)).squeeze(-1)

    for seed in range(50):
        p = torch.softmax(3 * torch.randn(16, 49152, generator=torch.Generator().manual_seed(seed)), -1)
        assert torch.equal(sample(p, torch.Generator().manual_seed(seed)),
                           one_level(p, torch.Generator().manual_seed(seed)))


def test_warping_temperature_top_k_top_p():
    import torch

    from planner.engine.sampling import SamplingParams, warped_logprobs

    logits = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.10]]))
    p = warped_logprobs(logits, SamplingParams(1.0)).exp()
    assert torch.allclose(p, torch.tensor([[0.5, 0.25, 0.15, 0.10]]), atol=1e-6)
    p = warped_logprobs(logits, SamplingParams(1.0, top_p=0.7)).exp()   # 0.5 + 0.25 reaches 0.7
    assert torch.allclose(p, torch.tensor([[2 / 3, 1 / 3, 0.0, 0.0]]), atol=1e-6)
    p = warped_logprobs(logits, SamplingParams(1.0, top_k=3)).exp()
    assert torch.allclose(p, torch.tensor([[0.5, 0.25, 0.15, 0.0]]) / 0.9, atol=1e-6)
    p = warped_logprobs(logits, SamplingParams(0.5)).exp()              # T=0.5 squares then renormalises
    sq = torch.tensor([0.25, 0.0625, 0.0225, 0.01])
    assert torch.allclose(p[0], sq / sq.sum(), atol=1e-6)


@pytest.mark.parametrize("deterministic_draft", [False, True])
def test_verify_sampled_first_token_follows_target(deterministic_draft):
    import torch

    from planner.engine.sampling import verify_sampled

    g = torch.Generator().manual_seed(0)
    M, V = 40000, 5
    p0 = torch.tensor([0.05, 0.4, 0.3, 0.2, 0.05])
    q0 = torch.tensor([0.5, 0.1, 0.1, 0.2, 0.1])
    target = torch.log(torch.stack([p0, torch.full((V,), 1 / V)])).expand(M, 2, V)
    if deterministic_draft:           # n-gram style: always proposes token 0 with q = one-hot
        drafts, qp = torch.zeros(M, 1, dtype=torch.long), None
    else:
        drafts = torch.multinomial(q0.expand(M, V), 1, generator=g)
        qp = q0.expand(M, 1, V)
    acc, nxt = verify_sampled(target, drafts, torch.ones(M, dtype=torch.long), qp, g)
    first = torch.where(acc > 0, drafts[:, 0], nxt)
    assert _chi2_pvalue(first.tolist(), p0.tolist()) > 1e-3
    # acceptance rate is sum_x min(p, q) (one-hot q: p of the drafted token)
    expect = float(p0[0]) if deterministic_draft else float(torch.minimum(p0, q0).sum())
    assert abs(float(acc.float().mean()) - expect) < 0.01


def _exact_joint(model, prompt, V):
    """Exact target distribution of tokens (t1, t2, t3) after `prompt` (T = 1), by enumeration."""
    import torch

    with torch.inference_mode():
        p1 = torch.softmax(model(torch.tensor([prompt])).logits[0, -1].double(), -1)
        pre2 = torch.tensor([prompt + [a] for a in range(V)])
        p2 = torch.softmax(model(pre2).logits[:, -1].double(), -1)                    # [V, V]
        pre3 = torch.tensor([prompt + [a, b] for a in range(V) for b in range(V)])
        p3 = torch.softmax(model(pre3).logits[:, -1].double(), -1).reshape(V, V, V)
    return p1[:, None, None] * p2[:, :, None] * p3


def _engine_joint_pvalue(tiny_qwen2, verifier=None, drafter="model"):
    import torch

    import planner.engine.decode as decode
    from planner.engine.drafters import ModelDrafter, NgramDrafter

    V = 6
    target = tiny_qwen2(seed=0, layers=2, vocab=V, init=0.6)
    prompt = [1, 3, 4]
    joint = _exact_joint(target, prompt, V).flatten()
    d = ModelDrafter(tiny_qwen2(seed=7, layers=1, vocab=V, init=0.6), "cpu") if drafter == "model" else NgramDrafter(1)
    eng = decode.Engine(target, drafter=d, eos_token_ids=[])
    saved = decode.verify_sampled
    if verifier is not None:
        decode.verify_sampled = verifier
    try:
        gen = eng.generate(prompt, n_branches=6000, draft_len=2, temperature=1.0, max_new_tokens=4, seed=11)
    finally:
        decode.verify_sampled = saved
    # 4 tokens are generated so that the round after t1 verifies 2 drafts at once; (t1, t2, t3) is tested
    codes = [t[0] * V * V + t[1] * V + t[2] for t in (b.token_ids for b in gen.branches)]
    spec_rounds = [s for s in gen.steps if s.kind == "spec"]
    assert spec_rounds and spec_rounds[0].batch == 6000 and spec_rounds[0].q == 3
    return _chi2_pvalue(codes, joint.tolist()), gen


@pytest.mark.parametrize("drafter", ["model", "ngram"])
def test_speculative_sampling_matches_target_joint_distribution(tiny_qwen2, drafter):
    pvalue, gen = _engine_joint_pvalue(tiny_qwen2, drafter=drafter)
    assert pvalue > 1e-3
    alpha = gen.acceptance_by_position()
    if drafter == "model":  # a draft of another seed is neither always right nor always wrong
        assert 0.05 < alpha[0] < 0.95


def test_negative_control_accept_all_is_detected(tiny_qwen2):
    import torch

    def accept_everything(target_logp, drafts, k, draft_probs, gen):
        nxt = torch.multinomial(target_logp[torch.arange(len(k)), k].exp(), 1, generator=gen).squeeze(-1)
        return k.clone(), nxt

    pvalue, _ = _engine_joint_pvalue(tiny_qwen2, verifier=accept_everything)
    assert pvalue < 1e-6
