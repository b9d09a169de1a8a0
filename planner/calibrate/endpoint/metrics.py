"""Prometheus text parsing and what calibration reads from it: speculative-decoding counters (acceptance per
draft position) and engine step counts.

Counter names are the same on a GPU vLLM deployment and on the CPU build (`vllm:spec_decode_*`); llama.cpp's
server uses the same suffixes under `llamacpp:`. Only *deltas* between two scrapes are meaningful: the
server may have served other traffic since it started."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from planner.calibrate.acceptance import wilson

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SPEC_PREFIXES = ("vllm:", "llamacpp:")


def parse_prometheus(text: str) -> dict[str, list[tuple[dict, float]]]:
    """{metric name: [(labels, value), ...]} for every sample line; comments and junk lines are skipped."""
    out: dict[str, list[tuple[dict, float]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        out.setdefault(m.group(1), []).append((labels, value))
    return out


def _sum(samples: dict, name: str, model: str | None = None) -> float | None:
    rows = samples.get(name)
    if rows is None:
        return None
    return sum(v for lab, v in rows if model is None or lab.get("model_name", model) == model)


@dataclass
class SpecCounters:
    """Cumulative speculative-decoding counters of one scrape (or the delta of two)."""

    drafts: float = 0.0
    draft_tokens: float = 0.0
    accepted: float = 0.0
    per_pos: list[float] = field(default_factory=list)  # accepted tokens at draft position 0, 1, ...

    @staticmethod
    def from_samples(samples: dict, model: str | None = None) -> "SpecCounters | None":
        """None when the server exports no speculative counters (no speculative config, or not vLLM)."""
        for pre in SPEC_PREFIXES:
            drafts = _sum(samples, pre + "spec_decode_num_drafts_total", model)
            if drafts is None:
                continue
            pos: dict[int, float] = {}
            for lab, v in samples.get(pre + "spec_decode_num_accepted_tokens_per_pos_total", []):
                if "position" in lab and (model is None or lab.get("model_name", model) == model):
                    pos[int(lab["position"])] = pos.get(int(lab["position"]), 0.0) + v
            return SpecCounters(drafts, _sum(samples, pre + "spec_decode_num_draft_tokens_total", model) or 0.0,
                                _sum(samples, pre + "spec_decode_num_accepted_tokens_total", model) or 0.0,
                                [pos[i] for i in sorted(pos)])
        return None

    def __sub__(self, other: "SpecCounters") -> "SpecCounters":
        n = max(len(self.per_pos), len(other.per_pos))
        a = self.per_pos + [0.0] * (n - len(self.per_pos))
        b = other.per_pos + [0.0] * (n - len(other.per_pos))
        return SpecCounters(self.drafts - other.drafts, self.draft_tokens - other.draft_tokens,
                            self.accepted - other.accepted, [x - y for x, y in zip(a, b)])

    @property
    def num_positions(self) -> int:
        return len(self.per_pos)


def conditional_acceptance(c: SpecCounters) -> dict | None:
    """alpha_i = P(position i accepted | positions < i accepted) from per-position counts.

    Acceptance is prefix-closed (a token counts only if all earlier ones were accepted), so position i's
    count over position i-1's count is the conditional rate; position 0 is over the number of drafts.
    Positions with nothing to condition on are dropped (the planner extends the last measured value)."""
    if c.drafts <= 0 or not c.per_pos:
        return None
    alpha, lo, hi, prev = [], [], [], c.drafts
    for acc in c.per_pos:
        if prev <= 0:
            break
        acc = min(acc, prev)
        alpha.append(acc / prev)
        a, b = wilson(acc, prev)
        lo.append(a)
        hi.append(b)
        prev = acc
    return {"alpha": alpha, "ci_low": lo, "ci_high": hi, "drafts": c.drafts, "draft_tokens": c.draft_tokens,
            "accepted": c.accepted, "mean_accept_length": 1.0 + c.accepted / c.drafts}


@dataclass
class EngineSteps:
    """vLLM's `iteration_tokens_total` histogram: count = engine steps, sum = tokens scheduled in them."""

    steps: float
    tokens: float

    @staticmethod
    def from_samples(samples: dict, model: str | None = None) -> "EngineSteps | None":
        n = _sum(samples, "vllm:iteration_tokens_total_count", model)
        s = _sum(samples, "vllm:iteration_tokens_total_sum", model)
        return None if n is None or s is None else EngineSteps(n, s)

    def __sub__(self, other: "EngineSteps") -> "EngineSteps":
        return EngineSteps(self.steps - other.steps, self.tokens - other.tokens)


def cache_config(samples: dict) -> dict:
    """Labels of `vllm:cache_config_info` (block size, KV cache size, prefix caching on/off), or {}."""
    rows = samples.get("vllm:cache_config_info") or []
    return dict(rows[0][0]) if rows else {}
