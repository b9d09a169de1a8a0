"""A reward model served by the real vLLM CPU build scores the same answers as the local scorer.

The model: a tiny random LlamaForSequenceClassification (1 label, SmolLM2's tokenizer with its chat template
removed, since the served scorer sends "question\\n\\nanswer" without a template, docs/executor.md), served with
`--runner pooling` and read through POST /pooling (task classify, use_activation false = raw logits).

Tolerance: the server runs in float32 like the local scorer, so the only differences are kernel order (CPU
attention and GEMMs summing in another order): abs 2e-3 on logits of size ~0.1-1 covers that with margin while a
wrong pooling position or an applied sigmoid would miss by far more (the answers' scores differ by > 0.01).
The server comes from the venv `.ci/vllm.sh` prepares (or $VLLM_PYTHON); without it the module skips with that
reason. One server, stopped by its PID."""

from __future__ import annotations


import pytest

from planner.errors import PlannerError
from planner.executor.scorers import make_scorer
from tools.serving.launch import VllmServer
from vllm_marks import MARKS, STARTUP_S, VLLM_PY

pytestmark = list(MARKS)
TOL = 2e-3
QUESTION = "What is 12 * 7?"
ANSWERS = ["12 * 7 = 84.\n\nThe answer is \\boxed{84}.", "It is \\boxed{74}.", "I think 84", "\\boxed{84}",
           "Let me see.\n\n10 * 7 = 70, 2 * 7 = 14.\n\nSo \\boxed{84}."]


def make_tiny_reward_model(out) -> str:
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from tools.serving.local_models import TINY, _load_tokenizer

    tok = _load_tokenizer()
    tok.chat_template = None
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                      num_labels=1, **{**TINY, "num_hidden_layers": 2, "initializer_range": 0.05})
    LlamaForSequenceClassification(cfg).eval().save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return str(out)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("vllm-reward")
    model = make_tiny_reward_model(d / "tiny-rm")
    server = VllmServer(["--model", model, "--served-model-name", "tiny-rm", "--runner", "pooling",
                         "--dtype", "float32", "--max-model-len", "1024", "--enforce-eager"],
                        python=VLLM_PY, workdir=d / "server", startup_timeout_s=STARTUP_S)
    server.start()
    try:
        yield {"url": server.base_url, "model": model, "server": server}
    finally:
        server.stop()


def test_served_scores_equal_the_local_scorer(served):
    local = make_scorer(f"reward:{served['model']}")
    remote = make_scorer(f"reward-served:{served['url']}/v1?model=tiny-rm")
    branches = [(a, 0, None) for a in ANSWERS]
    want, got = local.score_many(QUESTION, branches), remote.score_many(QUESTION, branches)
    print("local ", [round(x, 5) for x in want])
    print("served", [round(x, 5) for x in got])
    assert got == pytest.approx(want, abs=TOL)
    assert max(want) - min(want) > 10 * TOL          # the comparison can fail: the answers' scores differ


def test_the_policy_server_path_is_refused_when_it_lacks_pooling(served):
    """The same server asked for a model it does not serve: one line naming what it serves."""
    with pytest.raises(PlannerError, match="does not serve 'policy' .*it serves tiny-rm"):
        make_scorer(f"reward-served:{served['url']}?model=policy")
