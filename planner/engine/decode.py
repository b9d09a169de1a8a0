"""The decode loop: N branches of one prompt, decoded as one batch, with per-row speculative decoding.

Why it exists: HF `generate` does assisted (speculative) decoding at batch size 1 only, and test-time scaling
needs many branches at once. This loop prefills the prompt once, fans the KV cache out to N rows, and each
round (1) asks the drafter for up to K guesses per row, (2) verifies all rows in one target forward of width
1+max(k), (3) keeps each row's own accepted prefix plus one target token (no batch minimum), (4) rolls the
rejected guesses back (per-row lengths in the ragged cache) and (5) drops finished rows from the batch.
Greedy (T=0) output equals plain greedy decoding; sampled output has exactly the target's distribution.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from planner.engine.drafters import Drafter
from planner.engine.forward import check_supported, timed
from planner.engine.records import Branch, Generation, StepRecord
from planner.engine.sampling import (SamplingParams, choose, emitted_logprobs, verify_greedy, verify_sampled,
                                     warped_logprobs)
from planner.engine.state import SeqState
from planner.engine.stops import StopChecker


class Engine:
    """Decode branches of a prompt with `model` (HF causal LM), optionally speculating with `drafter`."""

    def __init__(self, model, tokenizer=None, drafter: Drafter | None = None, device=None,
                 eos_token_ids: list[int] | None = None):
        check_supported(model)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.drafter = drafter
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if eos_token_ids is None:
            eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
            if eos is None and tokenizer is not None:
                eos = tokenizer.eos_token_id
            eos_token_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        self.eos = set(int(e) for e in eos_token_ids)

    def encode_chat(self, text: str, system: str | None = None) -> list[int]:
        """Prompt ids for a user message: the tokenizer's chat template when it has one, else the raw text."""
        tok = self.tokenizer
        if tok is None:
            raise ValueError("engine has no tokenizer")
        if getattr(tok, "chat_template", None):
            msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
            ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            if hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        return list(tok(text)["input_ids"])

    @torch.inference_mode()
    def generate(self, prompt_ids: list[int], n_branches: int = 1, draft_len: int = 0, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int = 0, max_new_tokens: int = 256, deadline_s: float | None = None,
                 stop: list[str] | tuple[str, ...] = (), seed: int = 0, logprobs: bool = False,
                 on_finish: Callable[[Branch], bool] | None = None) -> Generation:
        """Decode `n_branches` continuations of `prompt_ids`.

        draft_len K > 0 needs a drafter. deadline_s (seconds from the call) is checked between rounds: when
        passed, still-running branches are cut (finish_reason "deadline"). on_finish(branch) is called as each
        branch completes; returning True stops the rest (finish_reason "cancelled", e.g. vote decided)."""
        if n_branches < 1 or max_new_tokens < 1 or draft_len < 0:
            raise ValueError("need n_branches >= 1, max_new_tokens >= 1, draft_len >= 0")
        if draft_len and self.drafter is None:
            raise ValueError("draft_len > 0 needs a drafter")
        if not prompt_ids:
            raise ValueError("empty prompt")
        sp = SamplingParams(float(temperature), float(top_p), int(top_k))
        dev = self.device
        gen = torch.Generator(device=dev).manual_seed(int(seed))
        t_start = time.perf_counter()
        now = lambda: time.perf_counter() - t_start  # noqa: E731
        stops = StopChecker(self.tokenizer, stop)
        K = int(draft_len)
        N = int(n_branches)
        prompt = list(prompt_ids)

        # -- prefill once, fan out --------------------------------------------------------------------------
        t = timed(dev)
        capacity = len(prompt) + min(max_new_tokens, 512) + K + 1
        target = SeqState(self.model, dev, 1, capacity=capacity)
        logits = target.feed([prompt], logits="last")                  # [1, V]
        vocab = logits.shape[-1]
        target.fan_out(N)
        first, probs = choose(logits.expand(N, -1), sp, gen)
        first_lp = None
        if logprobs:
            lp = warped_logprobs(logits, sp) if not sp.greedy else torch.log_softmax(logits.float(), -1)
            first_lp = lp[0].gather(0, first).tolist()
        first = first.tolist()
        drafter = self.drafter if K > 0 else None
        if drafter is not None:
            drafter.start(prompt, N, vocab, capacity)
        prefill_s = t()
        steps = [StepRecord(0, "prefill", now(), prefill_s, getattr(drafter, "prefill_s", 0.0), prefill_s,
                            1, len(prompt), 0, emitted=N)]

        rows = list(range(N))                       # branch index of each active row
        hist = [prompt + [x] for x in first]        # per active row
        out: list[list[int]] = [[x] for x in first]  # per branch
        tok_lp = [[first_lp[b]] if first_lp else [] for b in range(N)]  # per-token log-probs, parallel to out
        branch_lp = lambda b: sum(tok_lp[b][: len(out[b])]) if logprobs else None  # noqa: E731 (after any cut)
        result: list[Branch | None] = [None] * N
        stopped_by = None

        def finish(b: int, reason: str) -> bool:
            text = stops.final_text(out[b]) if self.tokenizer is not None else None
            result[b] = Branch(b, out[b], text, reason, now(), branch_lp(b))
            return bool(on_finish(result[b])) if on_finish and reason != "deadline" else False

        def check_rows(new_counts: dict[int, int]) -> tuple[list[int], bool]:
            keep, stop_all = [], False
            for i, b in enumerate(rows):
                reason = None
                toks = out[b]
                cut = stops.first_eos(toks, len(toks) - new_counts.get(b, 0), self.eos)
                if cut is not None:
                    del toks[cut + 1:]
                    reason = "eos"
                else:
                    cut = stops.first_stop(toks, new_counts.get(b, 0))
                    if cut is not None:
                        del toks[cut:]
                        reason = "stop"
                if reason is None and len(toks) >= max_new_tokens:
                    del toks[max_new_tokens:]
                    reason = "length"
                if reason is None:
                    keep.append(i)
                elif finish(b, reason):
                    stop_all = True
            return keep, stop_all

        keep, stop_all = check_rows({b: 1 for b in rows})
        steps[0].finished = N - len(keep)
        step = 0
        while True:
            if stop_all:
                stopped_by = "callback" if keep else None  # nothing left to cancel: a normal finish
                break
            if len(keep) < len(rows):
                rows = [rows[i] for i in keep]
                hist = [hist[i] for i in keep]
                target.select(keep)
                if drafter is not None:
                    drafter.select(keep)
            if not rows:
                break
            if deadline_s is not None and now() >= deadline_s:
                stopped_by = "deadline"
                break
            step += 1
            t_round = timed(dev)
            B = len(rows)
            k = [max(0, min(K, max_new_tokens - len(out[b]) - 1)) for b in rows]
            draft_s, n_draft_fw, drafts, q_probs = 0.0, 0, [[] for _ in rows], None
            if drafter is not None and max(k) > 0:
                t = timed(dev)
                fw0 = getattr(getattr(drafter, "state", None), "forwards", 0)
                drafts, q_probs = drafter.propose(hist, k, sp, gen)
                n_draft_fw = getattr(getattr(drafter, "state", None), "forwards", 0) - fw0
                draft_s = t()
            kk = [len(d) for d in drafts]
            Kr = max(kk)
            t = timed(dev)
            context = target.context
            pending = target.sync(hist)
            feed = [p + d for p, d in zip(pending, drafts)]
            t_fw = timed(dev)
            if all(len(p) == 1 for p in pending):
                logits = target.feed(feed, logits="all")[:, : Kr + 1]
            else:  # generic: pick columns len(pending)-1 .. +Kr per row
                cols = torch.tensor([[min(len(p) - 1 + j, len(f) - 1) for j in range(Kr + 1)]
                                     for p, f in zip(pending, feed)], device=dev)
                full = target.feed(feed, logits="all")
                logits = full.gather(1, cols[..., None].expand(-1, -1, full.shape[-1]))
            forward_s = t_fw()
            d_t = torch.tensor([d + [-1] * (Kr - len(d)) for d in drafts], dtype=torch.long, device=dev)
            d_t = d_t.reshape(B, Kr)
            k_t = torch.tensor(kk, dtype=torch.long, device=dev)
            if sp.greedy:
                acc, nxt = verify_greedy(logits, d_t, k_t)
                lp_all = torch.log_softmax(logits.float(), -1) if logprobs else None
            else:
                lp_all = warped_logprobs(logits, sp)
                qp = q_probs[:, :Kr] if q_probs is not None else None
                acc, nxt = verify_sampled(lp_all, d_t, k_t, qp, gen)
            if logprobs:
                row_lp = emitted_logprobs(lp_all, d_t, acc, nxt).tolist()
            acc_l, nxt_l = acc.tolist(), nxt.tolist()
            verify_s = t()
            new_counts = {}
            for i, b in enumerate(rows):
                new = drafts[i][: acc_l[i]] + [nxt_l[i]]
                hist[i].extend(new)
                out[b].extend(new)
                new_counts[b] = len(new)
                if logprobs:
                    tok_lp[b].extend(row_lp[i][: len(new)])
            proposed = [sum(1 for x in kk if x > i) for i in range(Kr)]
            # A row whose drafter proposed fewer than Kr tokens still pays for position i in the verify: it
            # counts as reached and rejected, so alpha is what the latency model needs (tokens per verify row).
            reached = [sum(1 for a in acc_l if a >= i) for i in range(Kr)]
            accepted = [sum(1 for a in acc_l if a > i) for i in range(Kr)]
            before = sum(len(out[b]) for b in rows)
            keep, stop_all = check_rows(new_counts)
            emitted = sum(new_counts.values()) - (before - sum(len(out[b]) for b in rows))
            steps.append(StepRecord(step, "spec" if Kr else "decode", now(), t_round(), draft_s, verify_s,
                                    int(logits.shape[0]),
                                    Kr + 1, context, n_draft_fw, proposed, reached, accepted, acc_l, emitted,
                                    B - len(keep), forward_s))

        for b in rows if stopped_by else []:
            if result[b] is None:
                reason = "deadline" if stopped_by == "deadline" else "cancelled"
                text = stops.final_text(out[b]) if self.tokenizer is not None else None
                result[b] = Branch(b, out[b], text, reason, now(), branch_lp(b))
        return Generation(result, steps, len(prompt), K, drafter.name if drafter else "none", now(), prefill_s,
                          stopped_by)
