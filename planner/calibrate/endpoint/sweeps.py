"""The measurements behind endpoint calibration: decode step time vs concurrent branches, prefill time vs
prompt length, and per-branch generated lengths on calibration prompts.

Decode: one streamed request with `n = B` and `ignore_eos`, so every branch makes exactly T tokens. Chunk
arrival times are coarse (the server coalesces tokens when the client lags), so we time the whole decode
segment, from the moment every branch has its first token to the last chunk, and divide by the number of
engine steps a branch took: (T-1) minus the tokens it got for free from accepted drafts (from the
speculative counters when the server has them). The mean query width q = 1 + drafted tokens per step."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from planner.errors import PlannerError
from planner.http import Endpoint, HttpError
from planner.calibrate.endpoint.metrics import SpecCounters
from planner.calibrate.endpoint.probe import ServerInfo

_WORDS = ("river stone maple copper lantern orbit velvet harbor cedar meadow quartz falcon ember summit willow "
          "prism canyon thistle marble glacier").split()


def filler_prompt(n_words: int, nonce: int) -> str:
    """Non-repeating filler (no n-gram matches to draft from) with a leading nonce that defeats prefix caching."""
    return f"Note {nonce}: " + " ".join(_WORDS[(i * 7 + nonce + i // 20) % len(_WORDS)] for i in range(n_words))


def _spec(info: ServerInfo, ep: Endpoint) -> SpecCounters | None:
    s = info.scrape(ep)
    return None if s is None else (SpecCounters.from_samples(s, info.model) or SpecCounters.from_samples(s))


def decode_point(ep: Endpoint, info: ServerInfo, B: int, tokens: int, prompt: str, temperature: float,
                 timeout_s: float) -> dict:
    """One (B, T) point: {"B", "q", "L", "t_s", "tokens", "ttft_s", "mode"}."""
    body = {"model": info.model, "prompt": prompt, "max_tokens": tokens, "temperature": temperature,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    s0 = _spec(info, ep)
    t_send = time.monotonic()
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    usage = None
    mode = "n"
    for t, obj in ep.stream("/v1/completions", {**body, "n": B}, timeout_s=timeout_s):
        for ch in obj.get("choices") or []:
            if ch.get("text"):
                i = int(ch.get("index", 0))
                first.setdefault(i, t)
                last[i] = t
        usage = obj.get("usage") or usage
    if len(first) < B:   # `n` ignored or unsupported: B concurrent n=1 streams instead
        mode = "parallel"
        first, last = {}, {}
        s0 = _spec(info, ep)
        t_send = time.monotonic()

        def one(i: int):
            f = la = None
            for t, obj in ep.stream("/v1/completions", {**body, "n": 1}, timeout_s=timeout_s):
                if any(ch.get("text") for ch in obj.get("choices") or []):
                    f = f or t
                    la = t
            return i, f, la

        with ThreadPoolExecutor(B) as pool:
            for i, f, la in pool.map(one, range(B)):
                if f is not None:
                    first[i], last[i] = f, la
        if len(first) < B:
            raise PlannerError(f"endpoint {ep.base}: asked for {B} branches, got {len(first)} streams with text")
    s1 = _spec(info, ep)
    accepted = drafted = drafts = 0.0
    if s0 is not None and s1 is not None:
        d = s1 - s0
        accepted, drafted, drafts = d.accepted, d.draft_tokens, d.drafts
    steps = max(1.0, ((tokens - 1) * B - accepted) / B)
    t_first, t_last = max(first.values()), max(last.values())
    prompt_tokens = int((usage or {}).get("prompt_tokens") or len(prompt.split()) * 1.3)
    return {"B": B, "q": round(1.0 + drafted / (steps * B), 4), "L": prompt_tokens + tokens / 2,
            "draft_rate": round(drafts / (steps * B), 4), "t_s": (t_last - t_first) / steps, "tokens": tokens,
            "ttft_s": t_first - t_send, "mode": mode, "prompt_tokens": prompt_tokens}


def prefill_point(ep: Endpoint, info: ServerInfo, n_words: int, nonce: int, timeout_s: float) -> dict:
    """Time of a 1-token request on a fresh prompt: prefill + one sampled token + HTTP overhead."""
    t = time.monotonic()
    r = ep.post_json("/v1/completions", {"model": info.model, "prompt": filler_prompt(n_words, nonce),
                                         "max_tokens": 1, "temperature": 0.0}, timeout_s=timeout_s)
    dt = time.monotonic() - t
    usage = r.get("usage") or {}
    return {"tokens": int(usage.get("prompt_tokens") or n_words), "t_s": dt}


def words_for_tokens(tokens: int) -> int:
    return max(1, int(tokens / 1.1))  # the filler words average ~1.1 tokens on BPE vocabularies


def _count_tokens(choice: dict, chat: bool) -> int | None:
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    seq = lp.get("content") if chat else lp.get("tokens")
    return len(seq) if isinstance(seq, list) else None


def sample_lengths(ep: Endpoint, info: ServerInfo, questions: list[str], n: int, max_tokens: int,
                   temperature: float, top_p: float, timeout_s: float) -> dict:
    """Generate n branches per question as the executor would (chat API, plan sampling) and count tokens.

    Returns {"tokens": [...], "groups": [[...] per question], "truncated": k, "prompt_tokens": [...],
    "api": "chat"|"completions", "notes"}."""
    notes: list[str] = []
    api = "chat"
    lengths: list[int] = []
    groups: list[list[int]] = []
    prompts: list[int] = []
    truncated = 0
    for q in questions:
        body = {"model": info.model, "n": n, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
        r = None
        if api == "chat":
            try:
                r = ep.post_json("/v1/chat/completions", {**body, "messages": [{"role": "user", "content": q}],
                                                          "logprobs": True, "top_logprobs": 0}, timeout_s=timeout_s)
            except HttpError as e:
                if e.status not in (400, 404, 422):
                    raise
                api = "completions"
                notes.append(f"chat API refused ({e.detail[:120]}); lengths measured on raw completions")
        if r is None:
            r = ep.post_json("/v1/completions", {**body, "prompt": q, "logprobs": 0}, timeout_s=timeout_s)
        choices = r.get("choices") or []
        usage = r.get("usage") or {}
        prompts.append(int(usage.get("prompt_tokens") or 0))
        counts = [_count_tokens(c, api == "chat") for c in choices]
        if any(c is None for c in counts):  # no logprobs: split the usage total by text length
            total = int(usage.get("completion_tokens") or 0)
            texts = [len((c.get("message") or {}).get("content") or c.get("text") or "") for c in choices]
            counts = [max(1, round(total * t / max(1, sum(texts)))) for t in texts]
            if "no per-token logprobs" not in " ".join(notes):
                notes.append("no per-token logprobs: per-branch lengths apportioned from usage by text length")
        for c, ch in zip(counts, choices):
            lengths.append(int(c))
            truncated += ch.get("finish_reason") == "length"
        groups.append([int(c) for c in counts])
    if not lengths:
        raise PlannerError(f"endpoint {ep.base}: calibration prompts produced no completions")
    return {"tokens": lengths, "groups": groups, "truncated": truncated, "prompt_tokens": prompts, "api": api, "notes": notes,
            "max_tokens": max_tokens}

