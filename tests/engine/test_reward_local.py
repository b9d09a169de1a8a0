"""The local reward-model scorer against a direct transformers forward (the reference implementation) on tiny
random-weight Llama reward models saved to tmp; and its refusals (not a reward model, wrong label count)."""

import math
import re

import pytest

from planner.errors import PlannerError
from planner.executor.reward_local import format_pair, step_ends
from planner.executor.scorers import make_scorer
from tests.conftest import make_char_tokenizer

QUESTION = "What is 2+3?"
ANSWERS = ["We add.\n\n2+3=5.\n\nThe answer is \\boxed{5}", "It is \\boxed{6}", "Hmm.\n\n\\boxed{5}\n\n",
           "5"]


def save_llama(path, labels: int = 1, seed: int = 0, head: str = "sequence"):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, \
        LlamaForTokenClassification

    tok = make_char_tokenizer()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, num_labels=labels,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2, initializer_range=0.2)
    cls = {"sequence": LlamaForSequenceClassification, "token": LlamaForTokenClassification,
           "causal": LlamaForCausalLM}[head]
    cls(cfg).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    return save_llama(tmp_path_factory.mktemp("tiny-rm"))


def reference_outcome(path, question, answer):
    """One unpadded sequence through LlamaForSequenceClassification: its pooled logit."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    ids = tok(f"{question}\n\n{answer}", return_tensors="pt")   # no chat template: the documented fallback
    with torch.inference_mode():
        return float(model(**ids).logits[0, 0])


def reference_steps(path, question, answer, sep="\n\n", labels=1):
    """Per-token head outputs of one unpadded sequence (base model + head by hand), read at the step ends found
    by scanning tokens (independent of the scorer's offset search)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    text = f"{question}\n\n{answer}"
    ids = tok(text, return_tensors="pt")
    with torch.inference_mode():
        logits = model.score(model.model(**ids).last_hidden_state)[0]
    per = logits[:, 0] if labels == 1 else logits[:, 1] - logits[:, 0]
    # char tokenizer: token t is character t; the answer starts after the question and "\n\n"
    a0 = len(question) + 2
    ends = [a0 + i + len(sep) - 1 for i in range(len(answer)) if answer.startswith(sep, i)]
    last = a0 + len(answer.rstrip()) - 1
    if not ends or last > ends[-1]:
        ends.append(last)
    return [float(per[t]) for t in ends]


def test_outcome_scores_equal_a_direct_forward_batched(rm_dir):
    scorer = make_scorer(f"reward:{rm_dir}")
    assert scorer.batched and scorer.transform == "sigmoid" and scorer.spec.aggregation is None
    got = scorer.score_many(QUESTION, [(a, 0, None) for a in ANSWERS])   # one padded batch of 4
    want = [reference_outcome(rm_dir, QUESTION, a) for a in ANSWERS]
    assert got == pytest.approx(want, abs=1e-5)
    assert len(set(round(x, 6) for x in got)) == len(got)               # the answers really differ
    assert scorer.score(QUESTION, ANSWERS[1], 0, None) == pytest.approx(want[1], abs=1e-5)


@pytest.mark.parametrize("agg", ["last", "min", "prod"])
def test_process_scores_read_at_step_separators(rm_dir, agg):
    scorer = make_scorer(f"reward:{rm_dir}?step={agg}")
    got = scorer.score_many(QUESTION, [(a, 0, None) for a in ANSWERS])
    for a, g in zip(ANSWERS, got):
        steps = reference_steps(rm_dir, QUESTION, a)
        want = {"last": steps[-1], "min": min(steps),
                "prod": math.prod(1 / (1 + math.exp(-s)) for s in steps)}[agg]
        assert g == pytest.approx(want, abs=1e-5)
    assert len(reference_steps(rm_dir, QUESTION, ANSWERS[0])) == 3 and scorer.transform == (
        "raw" if agg == "prod" else "sigmoid")


def test_two_label_process_head_uses_log_odds(tmp_path):
    path = save_llama(tmp_path / "prm2", labels=2, seed=1, head="token")
    scorer = make_scorer(f"reward:{path}?step=min&sep=%0A")
    got = scorer.score_many(QUESTION, [(a, 0, None) for a in ANSWERS[:2]])
    want = [min(reference_steps(path, QUESTION, a, sep="\n", labels=2)) for a in ANSWERS[:2]]
    assert got == pytest.approx(want, abs=1e-5)


def test_step_ends_by_hand():
    text = "Q\n\nA\n\nB\n\n"
    assert step_ends(text, "A\n\nB\n\n", "\n\n") == [6, 9]
    assert step_ends("Q\n\nA\n\nB", "A\n\nB", "\n\n") == [6, 7]   # B ends at index 7


def test_chat_template_is_used_when_the_tokenizer_has_one(rm_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(rm_dir)
    assert format_pair(tok, "q", "a") == "q\n\na"
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    assert format_pair(tok, "q", "a") == "<user>q<assistant>a"


@pytest.mark.parametrize("head,labels,spec,msg", [
    ("causal", 1, "", "not a reward model (architectures ['LlamaForCausalLM']"),
    ("sequence", 3, "", "an outcome reward model needs 1 label, this one has 3"),
    ("sequence", 3, "?step=min", "a process reward model needs 1 or 2 labels, this one has 3"),
])
def test_refuses_what_is_not_a_reward_model(tmp_path, head, labels, spec, msg):
    path = save_llama(tmp_path / "m", labels=labels, head=head)
    with pytest.raises(PlannerError, match=re.escape(msg)):
        make_scorer(f"reward:{path}{spec}")


def test_missing_head_weights_are_refused(tmp_path):
    """A sequence-classification config over a causal LM's weights: the head would be random."""
    import json

    path = save_llama(tmp_path / "m", head="causal")
    cfg = json.loads((path / "config.json").read_text())
    cfg["architectures"] = ["LlamaForSequenceClassification"]
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PlannerError, match="no trained classification head"):
        make_scorer(f"reward:{path}")


def test_run_and_eval_with_a_local_reward_model(tiny_model_dir, rm_dir, tmp_path, capsys):
    """`planner run` votes with the reward model's sigmoid weights; `planner eval` records the scorer in the bank."""
    import json

    from planner.accuracy.bank import load_bank
    from planner.cli import main
    from planner.scoring import transform

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"problem": f"What is {i}+{i}?", "answer": str(2 * i), "unique_id": f"p{i}"})
                            + "\n" for i in range(2)))
    out = tmp_path / "res.jsonl"
    assert main(["run", "--model", str(tiny_model_dir), "--dataset", str(data), "-n", "4", "--max-tokens", "10",
                 "--temperature", "1.0", "--method", "weighted_majority", "--scorer", f"reward:{rm_dir}",
                 "--out", str(out), "--quiet"]) == 0
    for r in (json.loads(x) for x in out.read_text().splitlines()):
        assert r["run"]["scorer"]["kind"] == "reward-local" and r["scoring_s"] > 0
        voters = [b for b in r["branches"] if b["answer"] is not None]
        assert all(isinstance(b["score"], float) for b in r["branches"] if b["finish_reason"] != "deadline")
        if voters:   # each group's weight = the sum of its voters' sigmoid(score) (groups here: exact strings)
            w = transform([b["score"] for b in voters], "sigmoid")
            assert sum(r["votes"].values()) == pytest.approx(float(sum(w)))
    bank = tmp_path / "bank.jsonl"
    assert main(["eval", "--model", str(tiny_model_dir), "--dataset", str(data), "--samples", "3", "--max-tokens",
                 "8", "--scorer", f"reward:{rm_dir}", "--out", str(bank), "--quiet"]) == 0
    b = load_bank(bank)
    assert b.meta["scorer"] == {"kind": "reward-local", "model": str(rm_dir), "transform": "sigmoid",
                                "aggregation": None} and b.has_scores


def test_run_refuses_a_plan_whose_reward_model_is_not_one(tiny_model_dir, tmp_path, capsys):
    import json

    from planner.cli import main

    causal = save_llama(tmp_path / "causal", head="causal")
    plan = {"schema": "tts-plan/1", "method": "best_of_n", "branches": 2, "deadline_s": None,
            "speculative": {"method": "none", "num_speculative_tokens": 0}, "predicted": {}, "profile": {"id": "p"},
            "model": {"name": "tiny"}, "sampling": {"temperature": 1.0, "max_tokens": 8},
            "scorer": {"kind": "reward-local", "model": str(causal)}}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    capsys.readouterr()   # the checkpoint writer's progress bar
    rc = main(["run", "--plan", str(tmp_path / "plan.json"), "--model", str(tiny_model_dir), "--prompt", "1+1?"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("planner: error: plan "), err
    assert f"cannot load its scorer reward:{causal}" in err[0] and "not a reward model" in err[0]
