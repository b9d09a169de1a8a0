"""The length pass's budget rule with a fake clock and engine (no model): on a loaded machine, where one prompt's
branches need longer than the whole budget to reach their cap, the pass overruns (up to OVERRUN x the budget)
until `min_finished` branches have finished and says so, instead of ending with no length to fit (bench/gpu_check.sh
in CPU mode died that way at 140-220 ms a step); on a quiet machine the budget works as before."""

from types import SimpleNamespace

import pytest

from planner.calibrate.generation import OVERRUN, length_budget_note, run_generations
from planner.errors import PlannerError


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeEngine:
    """Every round emits one token per active branch and takes step_s on the fake clock; a branch stops at its
    natural length (eos) or the cap; the deadline (seconds from the call) is checked between rounds, as in
    planner.engine.decode."""

    def __init__(self, clock: Clock, step_s: float, natural: list[int]):
        self.clock, self.step_s, self.natural, self.calls = clock, step_s, natural, []

    def encode_chat(self, text):
        return [1, 2, 3]

    def generate(self, ids, n_branches, draft_len, temperature, top_p, max_new_tokens, deadline_s, seed):
        self.calls.append(deadline_s)
        start, done, steps = self.clock.t, [0] * n_branches, []
        active = list(range(n_branches))
        while active and not (deadline_s is not None and self.clock.t - start >= deadline_s):
            self.clock.t += self.step_s
            steps.append(SimpleNamespace(kind="decode", batch=len(active), q=1, context=3 + done[active[0]],
                                         wall_s=self.step_s, draft_s=0.0, verify_s=0.0, draft_forwards=0,
                                         forward_s=self.step_s, accepted=[], reached=[]))
            for b in active:
                done[b] += 1
            active = [b for b in active if done[b] < min(self.natural[b], max_new_tokens)]
        reason = ["deadline" if b in active else "length" if done[b] >= max_new_tokens else "stop"
                  for b in range(n_branches)]
        branches = [SimpleNamespace(num_tokens=done[b], finish_reason=reason[b], completed=reason[b] == "stop",
                                    text="") for b in range(n_branches)]
        return SimpleNamespace(branches=branches, steps=steps, total_s=self.clock.t - start)


PROBLEMS = [SimpleNamespace(problem_id=str(i), question=f"q{i}", reference="1") for i in range(5)]


def run(step_s, natural, budget_s=40.0, min_finished=4, cap=96):
    clock = Clock()
    eng = FakeEngine(clock, step_s, natural)
    gen = run_generations(eng, PROBLEMS, 4, 0, 0.7, 1.0, cap, budget_s, min_finished=min_finished, clock=clock)
    return gen, eng


def test_loaded_machine_overruns_to_finish_its_first_branches_instead_of_ending_empty():
    long = [500] * 4   # every branch would run to the 96-token cap: 96 rounds x 0.45 s = 43.2 s > 40 s
    old, _ = run(0.45, long, min_finished=0)       # the budget as it was: the deadline cuts every branch
    assert old.tokens == [] and old.cut == 4
    with pytest.raises(PlannerError, match=r"within its 40 s budget \(89 decode rounds at 450 ms each\)"):
        length_budget_note(old, 40.0)
    gen, eng = run(0.45, long)
    assert gen.tokens == [96] * 4 and gen.at_cap == 4 and gen.cut == 0
    assert eng.calls == [pytest.approx(OVERRUN * 40.0)] and gen.problems == 1   # budget spent: no second prompt
    assert gen.overrun_s == pytest.approx(96 * 0.45 - 40.0)
    assert length_budget_note(gen, 40.0) == ("the length pass ran 3 s past its 40 s budget to finish its first 4 "
                                             "branches (the machine was slower than the budget assumes)")


def test_owed_branches_carry_the_pass_over_several_prompts_then_the_budget_applies_again():
    gen, eng = run(0.45, [500] * 4, min_finished=6)
    # prompt 1 ends at 43.2 s with 4 branches (< 6); prompt 2 gets the rest of 3 x 40 s and ends at 86.4 s; then
    # 8 >= 6 branches are in and the 40 s budget, long spent, stops the pass
    assert eng.calls == [pytest.approx(120.0), pytest.approx(120.0 - 43.2)]
    assert gen.problems == 2 and len(gen.tokens) == 8 and gen.overrun_s == pytest.approx(86.4 - 40.0)


def test_the_overrun_is_bounded_and_then_the_error_says_why():
    gen, eng = run(2.0, [500] * 4)                 # 96 rounds x 2 s = 192 s > 3 x 40 s
    assert gen.tokens == [] and gen.cut == 4 and gen.problems == 1 and eng.calls == [pytest.approx(120.0)]
    with pytest.raises(PlannerError) as e:
        length_budget_note(gen, 40.0)
    msg = str(e.value)
    assert "within 120 s (3 x its 40 s budget) (60 decode rounds at 2000 ms each)" in msg and "60 decode rounds at 2000 ms each" in msg and "--gpu" in msg


def test_a_quiet_machine_keeps_to_the_budget_as_before():
    natural = [30, 50, 70, 500]
    quiet, eng = run(0.05, natural, budget_s=10.0)
    old, eng_old = run(0.05, natural, budget_s=10.0, min_finished=0)
    # 96 rounds x 0.05 s = 4.8 s a prompt: prompts start at 0 and 4.8 s; at 9.6 s less than half a prompt is left
    assert quiet.problems == old.problems == 2
    assert quiet.tokens == old.tokens == [30, 50, 70, 96] * 2 and quiet.groups == old.groups
    assert eng.calls == [pytest.approx(30.0), pytest.approx(10.0 - 4.8)]   # owed: up to 3 x 10 s, then the budget
    assert eng_old.calls == [pytest.approx(10.0), pytest.approx(10.0 - 4.8)]
    assert quiet.overrun_s == 0.0 and length_budget_note(quiet, 10.0) is None
