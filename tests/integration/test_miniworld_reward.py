"""The shipped miniworld reward model (tools/miniworld/train_reward.py): loads offline through the executor's
reward scorer, stays small, and on held-out test problems scores the policy's right answers above its wrong
ones on average, and its best-of-8 beats majority@8 on the same answers. Grading is the task's own checker (the
oracle)."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from planner.demo.miniworld import task  # noqa: E402
from tools.miniworld import measure  # noqa: E402
from tools.miniworld.train_reward import auc, ids_of  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[2] / "planner" / "demo" / "miniworld" / "weights"
REWARD = WEIGHTS / "reward"
pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def scored():
    """Policy samples (T = 1) on 40 held-out test problems, graded by the task and scored by the executor's local
    reward scorer (`reward:DIR`, planner/executor/reward_local.py): one batched forward per problem."""
    from planner.executor.reward_local import format_pair
    from planner.executor.scorers import make_scorer

    torch.set_num_threads(1)
    scorer = make_scorer(f"reward:{REWARD}?step=min&sep=%3B")   # the weakest line's logit
    target, ptok = measure.load(WEIGHTS, "target")
    probs = task.make_problems(40, seed=7, split="test")
    comps = measure.sample(target, ptok, [p["question"] for p in probs], 8, temperature=1.0, seed=7)
    rows = []
    for p, cs in zip(probs, comps):
        for text, _ in cs:   # the scorer reads exactly what training fed the model
            assert scorer.tokenizer(format_pair(scorer.tokenizer, p["question"], text))["input_ids"] == \
                ids_of(p["question"], text)
        scores = scorer.score_many(p["question"], [(t, n, None) for t, n in cs])
        for (text, _), s in zip(cs, scores):
            ans = task.extract_answer(text)
            rows.append((p["problem_id"], task.grade(ans, p["reference"]), s, ans, p["reference"]))
    return rows


def test_reward_weights_are_small_and_an_outcome_reward_model():
    from transformers import AutoConfig

    size = sum(f.stat().st_size for f in REWARD.rglob("*") if f.is_file())
    assert size < 2 * 1024 * 1024
    cfg = AutoConfig.from_pretrained(REWARD)
    assert cfg.num_labels == 1 and cfg.architectures == ["LlamaForSequenceClassification"]


def test_right_answers_score_above_wrong_ones_on_held_out_problems(scored):
    right = [s for _, ok, s, *_ in scored if ok]
    wrong = [s for _, ok, s, *_ in scored if not ok]
    assert len(right) > 20 and len(wrong) > 20
    assert sum(right) / len(right) > sum(wrong) / len(wrong)
    assert auc([r[2] for r in scored], [r[1] for r in scored]) > 0.55


def test_best_of_8_beats_majority_of_8(scored):
    """Per problem: the top-scored answer's correctness vs the plurality answer's (ties split) over the same 8."""
    by = {}
    for pid, ok, s, ans, ref in scored:
        by.setdefault(pid, []).append((ok, s, ans, ref))
    best = sum(max(v, key=lambda t: t[1])[0] for v in by.values()) / len(by)
    maj = sum(measure.majority_credit([t[2] for t in v], v[0][3]) for v in by.values()) / len(by)
    assert best > maj + 0.02, (best, maj)
