"""A local Hugging Face reward model as a branch scorer (`--scorer reward:DIR_OR_HF_ID[?step=...]`).

Why here (and torch only inside): best-of-N and weighted voting are only as good as their scorer, and the plan
records which one the bank's scores came from, so `planner run` must be able to run that exact model.

- Input text: the tokenizer's chat template over [user: question, assistant: answer] when it has one, else the
  plain "question\\n\\nanswer" (what a reward model without a template was most likely trained on); the text is
  tokenized with the tokenizer's defaults (`tokenizer(text)`: special tokens as its post-processor adds them).
- Outcome reward (no `step`): an `AutoModelForSequenceClassification` checkpoint with ONE label; the score is
  its logit at the sequence's last token (the model's own pooling).
- Process reward (`step=last|min|prod`): the head's output read at the last token of every step separator
  (`sep`, default "\\n\\n") inside the answer and at the answer's last token; 1 label = a logit per step, 2
  labels = the log-odds logit[1] - logit[0] of "good step" (PRMs with a 2-way head). Steps aggregate as the
  last step's score, the minimum, or the product of sigmoid(step) (a probability).
- Batched: the N answers of a problem go through one forward (right padding, attention mask).
"""

from __future__ import annotations

import math

from planner.errors import PlannerError
from planner.executor.scorers import Scorer
from planner.scoring import ScorerConfig

HEADS = ("score", "classifier", "v_head")   # the classification head's attribute name across architectures


def format_pair(tokenizer, question: str, answer: str) -> str:
    """The text a reward model scores (documented rule above)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": question},
                                              {"role": "assistant", "content": answer}], tokenize=False)
    return f"{question}\n\n{answer}"


def step_ends(text: str, answer: str, sep: str) -> list[int]:
    """Character index (exclusive end) of every step of `answer` inside `text`: after each separator, and the
    answer's end (once, if it already ends with a separator)."""
    start = text.rfind(answer) if answer else -1
    if start < 0:
        return [len(text)]
    ends, i = [], answer.find(sep)
    while i >= 0:
        ends.append(start + i + len(sep))
        i = answer.find(sep, i + len(sep))
    end = start + len(answer.rstrip()) if answer.strip() else start + len(answer)
    if not ends or end > ends[-1]:
        ends.append(end)
    return ends


def aggregate(steps: list[float], how: str) -> float:
    if how == "last":
        return steps[-1]
    if how == "min":
        return min(steps)
    return math.prod(1.0 / (1.0 + math.exp(-s)) for s in steps)


class LocalRewardScorer(Scorer):
    needs_logprobs, batched, max_score = False, True, None

    def __init__(self, spec: ScorerConfig, device: str = "cpu", dtype: str = "fp32"):
        from planner.errors import require_extra

        require_extra(("torch", "transformers"), purpose="the local reward-model scorer (--scorer reward:...)")
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self.spec, self.name, self.device = spec, f"reward:{spec.model}", device
        where = f"scorer reward:{spec.model}"
        try:
            config = AutoConfig.from_pretrained(spec.model)
        except (OSError, ValueError) as e:
            raise PlannerError(f"{where}: cannot read its config ({str(e).splitlines()[0][:200]}); give a local "
                               "reward-model folder or a cached hub id") from None
        archs = [a for a in (getattr(config, "architectures", None) or []) if isinstance(a, str)]
        if not any(a.endswith(("ForSequenceClassification", "ForTokenClassification")) for a in archs):
            raise PlannerError(f"{where}: not a reward model (architectures {archs or 'unknown'}, no "
                               "*ForSequenceClassification head); give a reward-model checkpoint")
        labels = int(getattr(config, "num_labels", 0) or 0)
        if spec.aggregation is None and labels != 1:
            raise PlannerError(f"{where}: an outcome reward model needs 1 label, this one has {labels}; for a "
                               "process reward model add ?step=last|min|prod")
        if spec.aggregation is not None and labels not in (1, 2):
            raise PlannerError(f"{where}: a process reward model needs 1 or 2 labels, this one has {labels}")
        self.labels = labels
        dt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.model)
            self.model, info = AutoModelForSequenceClassification.from_pretrained(
                spec.model, dtype=dt, output_loading_info=True)
        except (OSError, ValueError, KeyError) as e:
            raise PlannerError(f"{where}: cannot load it ({str(e).splitlines()[0][:200]})") from None
        self.head = next((getattr(self.model, h) for h in HEADS if hasattr(self.model, h)), None)
        if self.head is None or any(k.split(".")[0] in HEADS for k in info.get("missing_keys", ())):
            raise PlannerError(f"{where}: the checkpoint has no trained classification head (missing "
                               f"{', '.join(HEADS)} weights): not a reward model")
        if spec.aggregation and not getattr(self.tokenizer, "is_fast", False):
            raise PlannerError(f"{where}: process rewards need a fast tokenizer (character offsets)")
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model.to(device).eval()

    def score(self, question, text, num_tokens, logprob):
        return self.score_many(question, [(text, num_tokens, logprob)])[0]

    def score_many(self, question, branches):
        texts = [format_pair(self.tokenizer, question, t or "") for t, _, _ in branches]
        return self.score_texts(texts, [t or "" for t, _, _ in branches])

    def score_texts(self, texts: list[str], answers: list[str]) -> list[float]:
        """One forward over all texts; per-token head outputs captured by a hook (the model pools them)."""
        import torch

        if not texts:
            return []
        enc = self.tokenizer(texts, padding=True, return_tensors="pt",
                             return_offsets_mapping=bool(self.spec.aggregation))
        offsets = enc.pop("offset_mapping", None)
        seen = {}
        hook = self.head.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
        try:
            with torch.inference_mode():
                self.model(**{k: v.to(self.device) for k, v in enc.items()})
        finally:
            hook.remove()
        per_token = seen["out"].float().cpu()                     # (B, T, labels)
        if self.labels == 2:
            per_token = per_token[..., 1:2] - per_token[..., 0:1]
        last = enc["attention_mask"].sum(dim=1) - 1
        out = []
        for b in range(len(texts)):
            if not self.spec.aggregation:
                out.append(float(per_token[b, last[b], 0]))
                continue
            starts = offsets[b, : int(last[b]) + 1, 0].tolist()
            idx = [max(t for t, s in enumerate(starts) if s < end) for end in
                   step_ends(texts[b], answers[b], self.spec.separator)]
            out.append(aggregate([float(per_token[b, i, 0]) for i in idx], self.spec.aggregation))
        bad = [i for i, x in enumerate(out) if not math.isfinite(x)]
        if bad:
            raise PlannerError(f"scorer {self.name}: NaN or infinite score for answer {bad[0]} (of {len(out)}); "
                               "check the checkpoint's weights and dtype")
        return out
