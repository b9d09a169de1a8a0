"""Generation phase of calibration: sample N branches per calibration prompt with the engine, at the plan's
temperature, and read off acceptance per draft position, output lengths, per-round overhead and (optionally)
graded answers for a sample bank.

One pass gives all of them because the engine's speculative sampling is lossless: branch lengths and answers
have the target's distribution whether or not a drafter proposes tokens. Prompts are asked exactly as
`planner run` asks them (chat template + the executor's MATH prompt), and answers are extracted and graded
with the executor's code, so the bank predicts the accuracy `planner run` will see.

A budget must not leave the length pass with nothing: on a loaded machine one prompt's branches can need longer
than the whole budget to reach their token cap, and a branch the budget cuts has no length. So until
`min_finished` branches have finished, prompts run past the budget (up to `OVERRUN` times it), and the overrun is
recorded (`GenResult.overrun_s`) instead of the phase ending empty."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from planner.calibrate.progress import Progress
from planner.errors import PlannerError

OVERRUN = 3.0   # a pass owed finished branches may run up to this many times its budget


@dataclass
class GenResult:
    tokens: list[int] = field(default_factory=list)       # generated tokens per completed branch
    groups: list[list[int]] = field(default_factory=list)  # the same tokens, one list per prompt
    cut: int = 0                                           # branches stopped by the time budget (not in tokens)
    at_cap: int = 0                                        # branches that hit max_new_tokens
    accepted: list[int] = field(default_factory=list)     # per draft position, pooled
    reached: list[int] = field(default_factory=list)
    by_batch: dict = field(default_factory=dict)           # batch bucket -> [accepted_1, reached_1]
    rounds: list[dict] = field(default_factory=list)       # per decode round: batch, q, context, wall_s, draft_s
    prompt_tokens: list[int] = field(default_factory=list)
    bank: list[dict] = field(default_factory=list)         # tts-bank/1 lines when graded
    cpu_s: list[float] = field(default_factory=list)      # CPU time of this thread per prompt
    problems: int = 0
    seconds: float = 0.0
    overrun_s: float = 0.0                                 # time spent past the budget to finish min_finished
    limit_s: float = 0.0                                   # the longest the pass could run (budget or overrun)


def _bucket(b: int) -> str:
    lo = 1 << (max(b, 1).bit_length() - 1)
    return f"{lo}-{2 * lo - 1}" if lo > 1 else "1"


def _answer(branch) -> str | None:
    from planner.executor.answers import extract_answer

    if not branch.completed:
        return None
    return extract_answer(branch.text, fallback_last_number=branch.finish_reason != "length")


def run_generations(engine, problems, n_branches: int, draft_len: int, temperature: float, top_p: float,
                    max_new_tokens: int, budget_s: float, grade: bool = False, seed: int = 0,
                    progress: Progress | None = None, meter=None, min_finished: int = 0,
                    clock=time.monotonic) -> GenResult:
    """meter: a planner.calibrate.repeats.LoadMeter ticked around every prompt; each round then carries `ref_s`, the
    reference forward time around it, so per-round overhead can be separated from load drift. Each round also
    carries `cpu_scale`, this thread's CPU time / wall time over its prompt (for the CPU clock).
    min_finished: while fewer branches have finished, the budget does not stop the pass (see module docstring)."""
    from planner.executor.answers import Equivalence, is_correct
    from planner.executor.datasets import format_prompt

    res = GenResult()
    eq = Equivalence() if grade else None
    res.limit_s = OVERRUN * budget_s if min_finished > 0 else budget_s
    t0 = clock()
    for i, prob in enumerate(problems):
        el = clock() - t0
        left = budget_s - el
        owed = len(res.tokens) < min_finished
        if owed:
            left = OVERRUN * budget_s - el   # the budget gives way until enough branches have finished
            if left <= 0:
                break
        elif left <= 0 or (i > 0 and left < el / i * 0.5):
            break  # not even half a prompt's worth of time left
        ids = engine.encode_chat(format_prompt(prob.question))
        ref0 = meter.tick() if meter is not None else None
        c0, w0 = time.thread_time(), time.perf_counter()
        gen = engine.generate(ids, n_branches=n_branches, draft_len=draft_len, temperature=temperature,
                              top_p=top_p, max_new_tokens=max_new_tokens, deadline_s=max(left, 1.0),
                              seed=seed + 7919 * i)
        cpu_scale = (time.thread_time() - c0) / max(time.perf_counter() - w0, 1e-9)
        res.cpu_s.append(time.thread_time() - c0)
        ref = (ref0 * meter.tick()) ** 0.5 if meter is not None else None
        res.problems += 1
        res.prompt_tokens.append(len(ids))
        samples, group = [], []
        for b in gen.branches:
            if b.finish_reason == "deadline":
                res.cut += 1
                continue
            res.tokens.append(b.num_tokens)
            group.append(b.num_tokens)
            res.at_cap += b.finish_reason == "length"
            if grade:
                ans = _answer(b)
                samples.append({"answer": ans, "correct": bool(is_correct(ans, prob.reference, eq)),
                                "num_tokens": b.num_tokens, "score": None})
        res.groups.append(group)
        if owed:
            res.overrun_s = max(res.overrun_s, clock() - t0 - budget_s)
        if grade and samples:
            res.bank.append({"schema": "tts-bank/1", "problem_id": prob.problem_id, "question": prob.question,
                             "reference": prob.reference, "samples": samples})
        for s in gen.steps:
            if s.kind == "prefill":
                continue
            res.rounds.append({"batch": s.batch, "q": s.q, "context": s.context, "wall_s": s.wall_s,
                               "draft_s": s.draft_s, "verify_s": s.verify_s, "draft_forwards": s.draft_forwards,
                               "forward_s": s.forward_s,
                               "ref_s": ref, "cpu_scale": cpu_scale})
            for j, (a, r) in enumerate(zip(s.accepted, s.reached)):
                if j >= len(res.accepted):
                    res.accepted.append(0)
                    res.reached.append(0)
                res.accepted[j] += int(a)
                res.reached[j] += int(r)
            if s.reached:
                bb = res.by_batch.setdefault(_bucket(s.batch), [0, 0])
                bb[0] += int(s.accepted[0])
                bb[1] += int(s.reached[0])
        if progress:
            el = clock() - t0
            progress.item(f"prompt {i + 1}: {n_branches} branches, {sum(b.num_tokens for b in gen.branches)} "
                          f"tokens in {gen.total_s:.1f}s", i + 1, len(problems), el, budget_s)
    res.seconds = clock() - t0
    return res


def length_budget_note(gen: GenResult, budget_s: float) -> str | None:
    """The length pass against its budget: a note when it ran past it to finish its first branches, None when it
    kept to it; a PlannerError when no branch finished even at OVERRUN times the budget (nothing to fit)."""
    if not gen.tokens:
        steps = [r["wall_s"] for r in gen.rounds]
        pace = f" ({len(steps)} decode rounds at {1e3 * sum(steps) / len(steps):.0f} ms each)" if steps else ""
        limit = f"{gen.limit_s:.0f} s ({gen.limit_s / budget_s:g} x its {budget_s:.0f} s budget)" \
            if gen.limit_s > budget_s else f"its {budget_s:.0f} s budget"
        raise PlannerError(f"calibration: no branch finished in the length pass within {limit}{pace}; nothing to "
                           f"fit lengths: this machine is too slow or too loaded for the model, retry when it is "
                           f"less loaded (or calibrate on a GPU with --gpu)")
    if gen.overrun_s <= 0:
        return None
    return (f"the length pass ran {gen.overrun_s:.0f} s past its {budget_s:.0f} s budget to finish its first "
            f"{len(gen.tokens)} branches (the machine was slower than the budget assumes)")
