"""Greedy (T=0) output of the engine must equal HF `model.generate` greedy token for token — with and without
speculation (draft model, layer-truncated self-draft, n-gram), at N = 1, 4, 8 branches, fp32."""

import pytest

from conftest import needs_torch

pytestmark = needs_torch

PROMPT = [5, 9, 11, 20, 7, 7, 30, 11, 20]


def _hf_greedy(model, prompt, n, eos=None):
    import torch

    with torch.inference_mode():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=eos,
                             pad_token_id=0)
    return out[0, len(prompt):].tolist()


@pytest.mark.parametrize("drafter_kind,K", [("none", 0), ("model", 3), ("self", 4), ("ngram", 3), ("layers", 2)])
@pytest.mark.parametrize("N", [1, 4, 8])
def test_greedy_equals_hf_generate(tiny_qwen2, drafter_kind, K, N):
    from planner.engine.decode import Engine
    from planner.engine.drafters import ModelDrafter, NgramDrafter
    from planner.engine.models import truncated_copy

    target = tiny_qwen2(seed=0, layers=3)
    ref = _hf_greedy(target, PROMPT, 48)
    drafter = {"none": None, "model": lambda: ModelDrafter(tiny_qwen2(seed=1, layers=1), "cpu"),
               "self": lambda: ModelDrafter(target, "cpu"), "ngram": lambda: NgramDrafter(),
               "layers": lambda: ModelDrafter(truncated_copy(target, 2), "cpu")}[drafter_kind]
    eng = Engine(target, drafter=drafter() if drafter else None, eos_token_ids=[])
    gen = eng.generate(PROMPT, n_branches=N, draft_len=K, max_new_tokens=48)
    assert [b.token_ids for b in gen.branches] == [ref] * N
    assert all(b.finish_reason == "length" for b in gen.branches)
    if drafter_kind == "self":  # the target drafting for itself is always right: K+1 tokens per round
        assert all(s.accepted == s.proposed for s in gen.steps if s.kind == "spec")


def test_greedy_stops_at_eos_inside_a_speculative_round(tiny_qwen2):
    from planner.engine.decode import Engine
    from planner.engine.drafters import ModelDrafter

    target = tiny_qwen2(seed=0, layers=3)
    free = _hf_greedy(target, PROMPT, 30)
    eos = free[11]  # make the 12th generated token the end-of-sequence token
    ref = _hf_greedy(target, PROMPT, 30, eos=eos)
    assert ref[-1] == eos and len(ref) == free.index(eos) + 1
    eng = Engine(target, drafter=ModelDrafter(target, "cpu"), eos_token_ids=[eos])
    gen = eng.generate(PROMPT, n_branches=3, draft_len=5, max_new_tokens=30)
    assert [b.token_ids for b in gen.branches] == [ref] * 3
    assert {b.finish_reason for b in gen.branches} == {"eos"}


@pytest.mark.slow
def test_smollm2_greedy_equals_hf_generate(smollm2):
    import torch

    from planner.engine.decode import Engine
    from planner.engine.drafters import ModelDrafter
    from planner.engine.models import truncated_copy

    model, tok = smollm2.model, smollm2.tokenizer
    eng = Engine(model, tok)
    spec = Engine(model, tok, drafter=ModelDrafter(truncated_copy(model, 20), "cpu"))
    prompt = eng.encode_chat("What is 12 + 30? Answer briefly.")
    with torch.inference_mode():
        ref = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)[0, len(prompt):].tolist()
    for N in (1, 4, 8):
        plain = eng.generate(prompt, n_branches=N, max_new_tokens=12)
        assert [b.token_ids for b in plain.branches] == [ref] * N
        gen = spec.generate(prompt, n_branches=N, draft_len=3, max_new_tokens=12)
        assert [b.token_ids for b in gen.branches] == [ref] * N, f"N={N} with a draft"
    assert gen.branches[0].text == tok.decode(ref, skip_special_tokens=True)
