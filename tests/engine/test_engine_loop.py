"""Decode-loop behaviour: acceptance bookkeeping adds up, finished rows leave the batch (and stop costing
compute), deadlines and early-stop callbacks are honoured, stop strings / EOS / max tokens cut exactly,
and the per-branch log-probabilities are right."""

import json

import pytest

from conftest import needs_torch

pytestmark = needs_torch

PROMPT = [5, 9, 11, 20, 7, 7, 30, 11, 20]


def _engine(tiny_qwen2, drafter="model", eos=(2, 3, 4, 5)):
    from planner.engine.decode import Engine
    from planner.engine.drafters import ModelDrafter, NgramDrafter

    target = tiny_qwen2(seed=0, layers=3)
    d = {"model": lambda: ModelDrafter(tiny_qwen2(seed=1, layers=1), "cpu"), "ngram": NgramDrafter,
         "none": lambda: None}[drafter]()
    return Engine(target, drafter=d, eos_token_ids=list(eos))


@pytest.mark.parametrize("drafter", ["model", "ngram"])
def test_acceptance_counts_add_up_and_rows_leave_the_batch(tiny_qwen2, drafter):
    # two EOS ids of 64: a branch ends by EOS within 40 tokens with probability ~0.7, so 16 branches mix both
    eng = _engine(tiny_qwen2, drafter, eos=(2, 3))
    rows_seen = []
    hook = eng.model.model.embed_tokens.register_forward_pre_hook(lambda m, a: rows_seen.append(a[0].shape[0]))
    try:
        gen = eng.generate(PROMPT, n_branches=16, draft_len=3, temperature=1.0, max_new_tokens=40, seed=5)
    finally:
        hook.remove()
    steps = gen.steps
    assert sum(s.emitted for s in steps) == gen.generated_tokens
    # the target forward is timed on its own, inside the verify section of the round
    assert all(0 < s.forward_s <= s.verify_s <= s.wall_s for s in steps[1:])
    reasons = [b.finish_reason for b in gen.branches]
    assert "eos" in reasons and "length" in reasons  # rows really finish at different times
    for b in gen.branches:
        assert b.num_tokens <= 40 and (b.finish_reason != "length" or b.num_tokens == 40)
        assert b.finish_reason != "eos" or (b.token_ids[-1] in eng.eos and not set(b.token_ids[:-1]) & eng.eos)
    for prev, s in zip(steps, steps[1:]):
        if s.kind == "spec":
            assert sum(s.accepted) == sum(s.accepted_per_row)
            assert all(a <= min(r, p) for a, r, p in zip(s.accepted, s.reached, s.proposed))
            assert s.reached == [sum(1 for x in s.accepted_per_row if x >= i) for i in range(len(s.reached))]
            assert len(s.accepted_per_row) == s.batch
        # the batch of a round is the previous batch minus the rows that finished in the previous round
        assert s.batch == (16 if prev.kind == "prefill" else prev.batch) - prev.finished
    # target forwards processed exactly the active rows (prefill: 1 row for the shared prompt)
    assert rows_seen == [1] + [s.batch for s in steps[1:]]
    assert steps[-1].batch - steps[-1].finished == 0
    json.dumps(gen.to_dict())  # records are plain JSON


def test_deadline_cuts_running_branches(tiny_qwen2):
    eng = _engine(tiny_qwen2, "none", eos=())
    gen = eng.generate(PROMPT, n_branches=4, max_new_tokens=100000, deadline_s=0.5)
    assert gen.stopped_by == "deadline"
    assert {b.finish_reason for b in gen.branches} == {"deadline"}
    assert not any(b.completed for b in gen.branches)
    last = gen.steps[-1]
    assert last.t_end_s - last.wall_s < 0.5          # no round started after the deadline
    assert gen.total_s < 0.5 + 5 * max(s.wall_s for s in gen.steps[1:]) + 0.5


def test_on_finish_callback_cancels_the_rest(tiny_qwen2):
    eng = _engine(tiny_qwen2, "model")
    done = []

    def first_wins(branch):
        done.append(branch.index)
        return True

    gen = eng.generate(PROMPT, n_branches=16, draft_len=2, temperature=1.0, max_new_tokens=60, seed=5,
                       on_finish=first_wins)
    assert gen.stopped_by == "callback"
    completed = [b for b in gen.branches if b.completed]
    assert {b.index for b in completed} == set(done) and len(done) >= 1
    assert all(b.finish_reason == "cancelled" for b in gen.branches if not b.completed)


def test_stop_string_cuts_text_and_tokens(tiny_qwen2, char_tokenizer):
    from planner.engine.decode import Engine
    from planner.engine.drafters import NgramDrafter

    tok = char_tokenizer
    model = tiny_qwen2(seed=4, layers=2, vocab=len(tok))
    eng = Engine(model, tok, drafter=NgramDrafter(), eos_token_ids=[])
    prompt = tok("Q: 2+2?\\nA:")["input_ids"]
    free = eng.generate(prompt, max_new_tokens=40).branches[0]
    stop = free.text[15:17]
    cut = free.text.find(stop)
    got = eng.generate(prompt, draft_len=3, max_new_tokens=40, stop=[stop]).branches[0]
    assert got.finish_reason == "stop"
    assert got.text == free.text[:cut]
    assert stop in tok.decode(got.token_ids) and stop not in tok.decode(got.token_ids[:-1])
    assert got.token_ids == free.token_ids[: len(got.token_ids)]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_logprobs_equal_a_full_forward(tiny_qwen2, temperature):
    import torch

    eng = _engine(tiny_qwen2, "model")  # EOS tokens: some branches are cut inside a round
    gen = eng.generate(PROMPT, n_branches=8, draft_len=3, temperature=temperature, max_new_tokens=20, seed=2,
                       logprobs=True)
    if temperature > 0:
        assert any(b.finish_reason == "eos" for b in gen.branches)
    for b in gen.branches:
        seq = torch.tensor([PROMPT + b.token_ids])
        with torch.inference_mode():
            lp = torch.log_softmax(eng.model(seq).logits[0].float(), -1)
        pos = torch.arange(len(PROMPT) - 1, seq.shape[1] - 1)
        expect = lp[pos, seq[0, pos + 1]].sum().item()
        assert b.logprob == pytest.approx(expect, abs=1e-3)


def test_ngram_drafter_proposes_what_followed_the_last_match():
    from planner.engine.drafters import NgramDrafter
    from planner.engine.sampling import SamplingParams

    d = NgramDrafter(max_n=3)
    d.start([1, 2, 3, 4, 9, 1, 2], 2, 16)
    drafts, q = d.propose([[1, 2, 3, 4, 9, 1, 2], [1, 2, 3, 4, 9, 1, 2, 7]], [3, 3], SamplingParams(), None)
    assert q is None
    assert drafts == [[3, 4, 9], []]          # (1, 2) seen before → 3 4 9; (…, 7) never seen
    drafts, _ = d.propose([[1, 2, 3, 4, 9, 1, 2, 3, 4], [1, 2, 3, 4, 9, 1, 2, 7, 1, 2, 3]], [2, 5], SamplingParams(),
                          None)
    # the most recent occurrence wins: (3, 4) was followed by 9; (1, 2, 3) most recently at 0 → 4 9 1 2 7
    assert drafts == [[9, 1], [4, 9, 1, 2, 7]]
    d.select([1])
    assert len(d.index) == 1 and d.seen == [11]
