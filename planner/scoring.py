"""Score transforms: how a scorer's raw scores become vote weights, in ONE function for the accuracy model
(planner/accuracy/estimators.py, bootstrap.py) and the executor (planner/executor/voting.py).

Why one function: the planner predicts weighted-majority accuracy from a bank's scores and the executor then
votes with live scores; if the two turned scores into weights differently (the model used sigmoid weights for
negative reward logits while the executor refused negative scores) the prediction would be for another method.

Transforms of the scores s_1..s_n of the answers that vote on ONE problem:
- raw:     w_i = s_i (must be >= 0 for weighted voting: probabilities such as the confidence scorer's);
- sigmoid: w_i = 1 / (1 + exp(-s_i)) (reward-model logits, which may be negative);
- rank:    w_i = (1 + #{j: s_j < s_i} + 0.5 #{j != i: s_j = s_i}) / n, the mid-rank over n, in (0, 1]: only the
           order of the scores counts. It depends on the whole set of voters, so the estimators recompute it for
           every subset of branches they consider (weighted_curve, boot_weighted_curve).
"auto" (the accuracy model's historical default) resolves once per bank: raw if no score is negative, else
sigmoid. Best-of-N ignores the transform: every transform is monotone, so the highest score is the same pick.
numpy only: this module is on `planner recommend`'s light path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from planner import checks
from planner.errors import PlannerError
from planner.special import expit

TRANSFORMS = ("raw", "sigmoid", "rank")
ALIASES = {"identity": "raw"}   # the estimators' old name for raw


def resolve(transform: str, scores=None) -> str:
    """A concrete transform name: aliases mapped, "auto" decided from `scores` (raw unless one is negative)."""
    t = ALIASES.get(transform, transform)
    if t == "auto":
        s = np.asarray([] if scores is None else scores, dtype=float)
        return "sigmoid" if np.any(s[np.isfinite(s)] < 0) else "raw"
    if t not in TRANSFORMS:
        raise PlannerError(f"unknown score transform {transform!r}: use {', '.join(TRANSFORMS)} (or auto)")
    return t


def rank_matrix(scores) -> np.ndarray:
    """L[j, i] = 1 if s_j < s_i, 0.5 if s_j == s_i (the diagonal too), else 0. For a vector x of how often each
    score is present (0/1 for a subset, draw counts for the bootstrap), (x @ L)_i + 0.5 = 1 + #lower + 0.5
    #other-equal = the mid-rank of one copy of score i among them (see transform)."""
    s = np.asarray(scores, dtype=float)
    return (s[:, None] < s[None, :]) + 0.5 * (s[:, None] == s[None, :])


def transform(scores, kind: str) -> np.ndarray:
    """Vote weights of one problem's voters (the order of `scores` is kept). Raises on NaN/inf scores and on
    negative weights, naming the fix."""
    s = np.asarray(scores, dtype=float)
    if not np.all(np.isfinite(s)):
        raise PlannerError("a score is NaN or infinite: weighted voting needs a finite score for every answer")
    kind = resolve(kind, s)
    if kind == "sigmoid":
        return expit(s)
    if kind == "rank":
        return (np.ones(len(s)) @ rank_matrix(s) + 0.5) / max(len(s), 1) if len(s) else s
    if np.any(s < 0):
        raise PlannerError("score transform raw gives negative vote weights: use transform sigmoid (reward "
                           "logits) or rank")
    return s


def max_weight(kind: str, max_score: float | None) -> float | None:
    """Largest weight one voter can add (weighted voting's early stop): None when unknown or set-dependent."""
    if kind == "rank":
        return 1.0   # a mid-rank over n is at most 1, but earlier weights change: callers must not stop early
    if max_score is None:
        return 1.0 if kind == "sigmoid" else None
    return float(expit(max_score)) if kind == "sigmoid" else float(max_score)


# ---------------------------------------------------------------- the scorer spec a plan and a bank record

KINDS = ("confidence", "boxed", "python", "reward-local", "reward-served")
AGGREGATIONS = ("last", "min", "prod")   # process rewards: the last step's score, the weakest step, the product
DEFAULT_SEPARATOR = "\n\n"               # process rewards: a step ends where this text occurs
_OPTIONS = {"reward-local": ("step", "sep", "transform"), "reward-served": ("step", "sep", "transform", "model"),
            "confidence": ("transform",), "boxed": ("transform",), "python": ("transform",)}


@dataclass(frozen=True)
class ScorerConfig:
    """Which scorer produced (or will produce) the scores, written in plans (`scorer`) and banks (per line).

    String syntax (`--scorer`, make_scorer), options after `?` as `key=value` joined by `&`, values URL-escaped:
      confidence | boxed | python:MODULE:FUNCTION (or MODULE:FUNCTION)
      reward:PATH_OR_HF_ID[?step=last|min|prod&sep=%0A%0A&transform=sigmoid]        local HF reward model
      reward-served:URL[?model=NAME&step=...&sep=...&transform=...]                 vLLM pooling API
    No `step`: an outcome reward (one score per answer); `step`: a process reward read at every `sep`.
    Default transform: sigmoid for reward logits (raw for step=prod, a product of step probabilities), else raw."""

    kind: str
    model: str | None = None         # reward: checkpoint dir or hub id; served: base URL; python: module:function
    aggregation: str | None = None   # None = outcome reward; last | min | prod = process reward
    separator: str = DEFAULT_SEPARATOR
    transform: str = "raw"
    served_model: str | None = None  # reward-served: the name the server answers to (default: its only model)

    @property
    def is_reward(self) -> bool:
        return self.kind in ("reward-local", "reward-served")

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "model": self.model, "transform": self.transform}
        if self.is_reward:
            d |= {"aggregation": self.aggregation}
            if self.aggregation:
                d["separator"] = self.separator
            if self.kind == "reward-served":
                d["served_model"] = self.served_model
        return d

    def to_string(self) -> str:
        head = {"confidence": "confidence", "boxed": "boxed", "python": f"python:{self.model}",
                "reward-local": f"reward:{self.model}", "reward-served": f"reward-served:{self.model}"}[self.kind]
        opts = {"model": self.served_model, "step": self.aggregation,
                "sep": self.separator if self.aggregation and self.separator != DEFAULT_SEPARATOR else None,
                "transform": self.transform if self.transform != default_transform(self.kind, self.aggregation)
                else None}
        q = "&".join(f"{k}={quote(v, safe='')}" for k, v in opts.items() if v)
        return f"{head}?{q}" if q else head

    @staticmethod
    def from_dict(d: Any, path: str = "scorer") -> "ScorerConfig":
        if not isinstance(d, dict):
            checks.fail(path, f"must be a JSON object, got {type(d).__name__}")
        unknown = [k for k in d if k not in ("kind", "model", "aggregation", "separator", "transform",
                                             "served_model")]
        if unknown:
            checks.fail(f"{path}.{unknown[0]}", "unknown field (fields: kind, model, aggregation, separator, "
                                                "transform, served_model)")
        kind = checks.string(d.get("kind"), f"{path}.kind", choices=KINDS)
        model = checks.string(d.get("model"), f"{path}.model", default=None, max_len=4096)
        if kind in ("python", "reward-local", "reward-served") and not model:
            checks.fail(f"{path}.model", f"scorer kind {kind} needs a model (a checkpoint, URL or module:function)")
        agg = checks.string(d.get("aggregation"), f"{path}.aggregation", choices=AGGREGATIONS, default=None)
        sep = checks.string(d.get("separator"), f"{path}.separator", default=DEFAULT_SEPARATOR, max_len=64)
        if agg and not sep:
            checks.fail(f"{path}.separator", "is empty: a process reward needs a step separator, e.g. \"\\n\\n\"")
        tr = checks.string(d.get("transform"), f"{path}.transform", choices=TRANSFORMS,
                           default=default_transform(kind, agg))
        served = checks.string(d.get("served_model"), f"{path}.served_model", default=None, max_len=512)
        return ScorerConfig(kind, model, agg if kind in ("reward-local", "reward-served") else None, sep, tr, served)


def default_transform(kind: str, aggregation: str | None = None) -> str:
    return "sigmoid" if kind in ("reward-local", "reward-served") and aggregation != "prod" else "raw"


def parse_spec(text: str) -> ScorerConfig:
    """The `--scorer` string (ScorerConfig's syntax) as a spec; one-line error naming the fix."""
    hint = ("use confidence, boxed, python:MODULE:FUNCTION, reward:DIR_OR_HF_ID[?step=last|min|prod] or "
            "reward-served:URL[?model=NAME]")
    text = str(text).strip()
    for prefix, kind in (("reward-served:", "reward-served"), ("reward-local:", "reward-local"),
                         ("reward:", "reward-local"), ("python:", "python")):
        if text.startswith(prefix):
            body = text[len(prefix):]
            break
    else:
        if text.partition("?")[0] in ("confidence", "boxed"):
            kind, body = text.partition("?")[0], "?" + text.partition("?")[2]
        elif ":" in text and "?" not in text and "/" not in text:   # the historical module:function
            kind, body = "python", text
        else:
            raise PlannerError(f"--scorer {text!r}: unknown scorer; {hint}")
    body, _, query = body.partition("?")
    if kind not in ("confidence", "boxed") and not body:
        raise PlannerError(f"--scorer {text!r}: give the {'URL' if kind == 'reward-served' else 'model'} after "
                           f"'{text.partition(':')[0]}:'; {hint}")
    opts = {}
    for part in filter(None, query.split("&")):
        key, eq, val = part.partition("=")
        if not eq or key not in _OPTIONS[kind]:
            raise PlannerError(f"--scorer {text!r}: unknown option {part!r} (options for {kind}: "
                               f"{', '.join(_OPTIONS[kind])}=VALUE)")
        opts[key] = unquote(val)
    if "sep" in opts and not opts["sep"]:
        raise PlannerError(f"--scorer {text!r}: sep is empty; give the step separator URL-escaped, e.g. sep=%0A%0A")
    for key, choices in (("step", AGGREGATIONS), ("transform", TRANSFORMS)):
        if key in opts and opts[key] not in choices:
            raise PlannerError(f"--scorer {text!r}: {key}={opts[key]!r} is not one of {', '.join(choices)}")
    d = {"kind": kind, "model": body or None, "aggregation": opts.get("step"), "transform": opts.get("transform"),
         "served_model": opts.get("model"), "separator": opts.get("sep")}
    return ScorerConfig.from_dict({k: v for k, v in d.items() if v is not None}, f"--scorer {text!r}")
