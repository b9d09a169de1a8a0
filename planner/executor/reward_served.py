"""A reward model served by vLLM as a branch scorer (`--scorer reward-served:URL[?model=NAME]`).

Why: the reward model of a real deployment runs next to the policy on the serving stack, not in the client.
vLLM serves `*ForSequenceClassification` checkpoints with its pooling runner (`vllm serve RM_DIR --runner
pooling`; vLLM picks it by itself for such an architecture) and answers

  POST /pooling {"model": NAME, "input": [text, ...], "task": "classify", "use_activation": false}
  -> {"data": [{"index": i, "data": [logit, ...]}, ...]}

`use_activation: false` returns the head's raw logits, the same numbers as the local scorer (reward_local.py),
so a bank scored by one can be run with the other; `/classify` would return softmax "probs", which for a
1-label head are always 1. All N answers of a problem go in one request. The text is "question\\n\\nanswer"
(the server applies no chat template in this form): for a model with a chat template the local scorer applies
the template and the two differ, so serve reward models without one, or score locally. Process rewards
(step=...) need per-token outputs at character offsets and are local-only. Every call has a total deadline
(planner/http.py)."""

from __future__ import annotations

import math

from planner.errors import PlannerError
from planner.executor.scorers import Scorer
from planner.http import Endpoint, HttpError
from planner.scoring import ScorerConfig

TIMEOUT_S = 120.0   # one scoring request (N answers), connect to last byte


def pair_text(question: str, answer: str) -> str:
    return f"{question}\n\n{answer}"


class ServedRewardScorer(Scorer):
    needs_logprobs, batched, max_score = False, True, None

    def __init__(self, spec: ScorerConfig, timeout_s: float = TIMEOUT_S):
        self.spec, self.name = spec, f"reward-served:{spec.model}"
        if spec.aggregation:
            raise PlannerError(f"scorer {spec.to_string()}: process rewards (step={spec.aggregation}) are scored "
                               "locally only: use reward:DIR?step=... with the checkpoint")
        self.endpoint = Endpoint(spec.model, timeout_s, "--request-timeout")
        models = self.endpoint.get_json("/v1/models")
        names = [m.get("id") for m in (models.get("data") or []) if isinstance(m, dict)] \
            if isinstance(models, dict) else []
        if spec.served_model is None and len(names) != 1:
            raise PlannerError(f"scorer {self.name}: the server serves {names or 'no model'}; name one with "
                               "?model=NAME")
        self.model = spec.served_model or names[0]
        if names and self.model not in names:
            raise PlannerError(f"scorer {self.name}: the server does not serve {self.model!r} (it serves "
                               f"{', '.join(map(str, names))})")
        probe = self._pool(["ok"], probe=True)
        if len(probe[0]) != 1:
            raise PlannerError(f"scorer {self.name}: model {self.model!r} returns {len(probe[0])} outputs per "
                               "text; an outcome reward model has 1 label")

    def _pool(self, texts: list[str], probe: bool = False) -> list[list[float]]:
        body = {"model": self.model, "input": texts, "task": "classify", "use_activation": False}
        try:
            out = self.endpoint.post_json("/pooling", body)
        except HttpError as e:
            raise PlannerError(f"scorer {self.name}: model {self.model!r} has no pooling API (POST /pooling: HTTP "
                               f"{e.status} {e.detail[:120]}); serve a reward model with `vllm serve DIR --runner "
                               "pooling`") from None
        rows = out.get("data") if isinstance(out, dict) else None
        if not isinstance(rows, list) or len(rows) != len(texts) or not all(
                isinstance(r, dict) and isinstance(r.get("index"), int) and isinstance(r.get("data"), list)
                for r in rows):
            raise PlannerError(f"scorer {self.name}: POST /pooling did not answer one output list per text "
                               f"({str(out)[:120]}): not vLLM's pooling API")
        rows = sorted(rows, key=lambda r: r["index"])
        vals = [[float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan
                 for x in r["data"]] for r in rows]
        return vals if probe else self._finite(vals)

    def _finite(self, vals: list[list[float]]) -> list[list[float]]:
        bad = next((i for i, v in enumerate(vals) if len(v) != 1 or not math.isfinite(v[0])), None)
        if bad is not None:
            raise PlannerError(f"scorer {self.name}: answer {bad} of {len(vals)} scored {vals[bad]} (NaN, infinite "
                               "or not one number); check the served model and its dtype")
        return vals

    def score(self, question, text, num_tokens, logprob):
        return self.score_many(question, [(text, num_tokens, logprob)])[0]

    def score_many(self, question, branches):
        if not branches:
            return []
        return [v[0] for v in self._pool([pair_text(question, t or "") for t, _, _ in branches])]
