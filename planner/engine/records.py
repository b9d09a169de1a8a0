"""What one generate() call returns: branches, and one record per decoding round.

Why plain dataclasses with JSON-able fields: calibration fits the latency model from these records (step time
vs batch B, width q, context L; acceptance per draft position) and the executor writes them out, so they must
survive `json.dumps(asdict(...))` and mean the same thing on CPU and GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class StepRecord:
    step: int
    kind: str                 # "prefill" | "decode" (q = 1) | "spec" (verify of drafted tokens)
    t_end_s: float            # seconds since generate() started, at the end of the round
    wall_s: float             # whole round: draft + verify + bookkeeping
    draft_s: float            # time in the drafter (model forwards or n-gram lookup)
    verify_s: float           # target forward + acceptance
    batch: int                # rows in the target forward
    q: int                    # target query width (1 plain decode, up to K+1 when verifying)
    context: int              # KV slots read per row by that forward (longest row), L in the latency model
    draft_forwards: int = 0   # draft-model forwards this round
    proposed: list[int] = field(default_factory=list)   # [i] rows that had a draft at position i
    reached: list[int] = field(default_factory=list)    # [i] rows whose drafts 0..i-1 were all accepted
                                                        # (proposed at i or not: the verify covers position i)
    accepted: list[int] = field(default_factory=list)   # [i] rows whose draft at position i was accepted
    accepted_per_row: list[int] = field(default_factory=list)  # drafts accepted in each row (batch order)
    emitted: int = 0          # tokens appended to branches this round (after stop/length truncation)
    finished: int = 0         # rows that finished this round
    forward_s: float = 0.0    # the target forward alone (inside verify_s): wall_s - draft_s - forward_s is the
                              # loop's own overhead, measured at the same moment as the forward


@dataclass
class Branch:
    index: int
    token_ids: list[int]
    text: str | None
    finish_reason: str        # eos | stop | length | deadline | cancelled
    finish_s: float           # seconds since generate() started when it finished (or was cut)
    logprob: float | None = None  # sum of log p(token) under the sampling distribution (if requested)

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def completed(self) -> bool:
        """Finished on its own (counts in a vote); cut branches do not."""
        return self.finish_reason in ("eos", "stop", "length")


@dataclass
class Generation:
    branches: list[Branch]
    steps: list[StepRecord]
    prompt_tokens: int
    draft_len: int
    drafter: str
    total_s: float
    prefill_s: float
    stopped_by: str | None = None   # None | "deadline" | "callback"

    @property
    def generated_tokens(self) -> int:
        return sum(b.num_tokens for b in self.branches)

    def acceptance_by_position(self) -> list[float | None]:
        """α_i = P(draft i accepted | drafts before it accepted), pooled over rounds and rows."""
        K = max((len(s.reached) for s in self.steps), default=0)
        reached, acc = [0] * K, [0] * K
        for s in self.steps:
            for i, (r, a) in enumerate(zip(s.reached, s.accepted)):
                reached[i] += r
                acc[i] += a
        return [a / r if r else None for a, r in zip(acc, reached)]

    def mean_accepted_per_round(self) -> float:
        rounds = [a for s in self.steps if s.kind == "spec" for a in s.accepted_per_row]
        return sum(rounds) / len(rounds) if rounds else 0.0

    def to_dict(self, with_steps: bool = True) -> dict:
        d = asdict(self)
        if not with_steps:
            d.pop("steps")
        return d
