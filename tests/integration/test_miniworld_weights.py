"""The shipped miniworld weights: load offline with the Auto classes, fit in 5 MB, and solve problems.

The bounds below come from measurements of the shipped weights (docs/miniworld.md) with margins; greedy
decoding on CPU in fp32 is deterministic, so a failure means the weights or the loading path changed.
"""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from planner.demo.miniworld import task  # noqa: E402
from tools.miniworld import measure  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[2] / "planner" / "demo" / "miniworld" / "weights"
pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    target, tok = measure.load(WEIGHTS, "target")
    draft, _ = measure.load(WEIGHTS, "draft")
    return target, draft, tok


def test_weights_are_small_and_complete():
    total = sum(f.stat().st_size for f in WEIGHTS.rglob("*") if f.is_file())
    assert total <= 5 * 1024 * 1024
    for name in ("target", "draft"):
        for f in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
            assert (WEIGHTS / name / f).is_file(), f"{name}/{f}"
    assert (WEIGHTS / "tokenizer.json").is_file()


def test_auto_classes_load_fp32_and_share_the_tokenizer(models):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = AutoModelForCausalLM.from_pretrained(WEIGHTS / "draft")
    assert m.dtype == torch.float32
    target, draft, tok = models
    root_tok = AutoTokenizer.from_pretrained(WEIGHTS)
    assert root_tok("Q:1+2=")["input_ids"] == tok("Q:1+2=")["input_ids"]
    n_t = sum(p.numel() for p in target.parameters())
    n_d = sum(p.numel() for p in draft.parameters())
    assert n_d * 3 < n_t
    assert target.config.vocab_size == draft.config.vocab_size == len(tok)


def test_greedy_target_solves_held_out_problems(models):
    target, _, tok = models
    probs = task.make_problems(20, 7, "test")
    outs = measure.sample(target, tok, [p["question"] for p in probs], 1, temperature=0)
    acc = sum(task.grade(task.extract_answer(o[0][0]), p["reference"]) for o, p in zip(outs, probs)) / len(probs)
    assert acc >= 0.9, acc  # measured 1.0 (greedy never slips; the slips live in the sampled tail)
    # the chain of thought has the documented shape
    assert [o[0][0] for o in outs[:3]] == [p["solution"] for p in probs[:3]]


def test_draft_agrees_with_target_often_but_not_always(models):
    target, draft, tok = models
    probs = task.make_problems(8, 11, "test")
    qs = [p["question"] for p in probs]
    comps = measure.sample(target, tok, qs, 2, temperature=1.0, seed=3)
    acc = measure.acceptance(target, draft, tok, qs, comps)
    assert 0.5 <= acc["alpha_T1"] <= 0.97, acc
    assert acc["tau_iid"][4] > acc["tau_iid"][1] > 1.4
