"""A reduced closed loop (calibrate → sweep → regret analysis → demo) so the loop never silently breaks.

Uses the shipped miniworld weights when they exist; otherwise random stand-ins with the miniworld tokenizer
(the loop's plumbing is the same; the numbers mean nothing). A few problems and short outputs keep it to
about a minute on 2 CPU cores."""

import json

import numpy as np
import pytest

from conftest import needs_torch

pytestmark = [pytest.mark.slow, pytest.mark.engine, needs_torch]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    from planner.demo import closed_loop as CL

    if (CL.MINIWORLD_WEIGHTS / "target" / "config.json").is_file():
        return CL.MINIWORLD_WEIGHTS
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from planner.demo.miniworld.tokenizer import BOS_ID, EOS_ID, PAD_ID, build_tokenizer

    tok = build_tokenizer()
    root = tmp_path_factory.mktemp("miniworld")
    for name, (hidden, layers) in {"target": (64, 2), "draft": (32, 1)}.items():
        torch.manual_seed(len(name))
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                          num_key_value_heads=2, intermediate_size=2 * hidden, max_position_embeddings=256,
                          bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID, tie_word_embeddings=True)
        LlamaForCausalLM(cfg).save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return root


@pytest.fixture(scope="module")
def loop(world_dir, tmp_path_factory):
    from planner.demo import closed_loop as CL
    from planner.profile import load_profile

    world = CL.miniworld(str(world_dir), max_tokens=40)
    backend = CL.load_backend(world, 2, log=lambda m: None)
    out = tmp_path_factory.mktemp("cal")
    path = CL.calibrate_world(world, backend, CL.problems(4, "val"), out, samples=6, ks=(0, 2), log=lambda m: None)
    return world, backend, load_profile(str(path)), out


def test_calibration_writes_a_consistent_profile(loop):
    world, _, profile, out = loop
    bank = [json.loads(x) for x in next(out.glob("profile.bank.*.jsonl")).read_text().splitlines()]
    assert len(bank) == 4 and all(len(b["samples"]) == 6 for b in bank)
    assert sorted(s["num_tokens"] for b in bank for s in b["samples"]) == list(profile.lengths.tokens)
    assert max(profile.lengths.tokens) <= 40 and profile.temperature == world.temperature
    assert profile.draft.kind == "model" and len(profile.acceptance.alpha) == 2
    assert all(0.0 <= a <= 1.0 for a in profile.acceptance.alpha)
    assert profile.step.t0_s >= 0 and profile.draft.step.t0_s >= 0 and profile.prefill.s_per_token >= 0
    assert profile.provenance["kind"] == "measured" and profile.prompt_tokens > 5
    # 6 samples ran as one run of 6 or as branches of 3, 1, 1, 1 (every other problem): rounds at B = 6, 3, 1
    from planner.calibrate.rounds import batch_split

    assert batch_split(6) == [3, 1, 1, 1] and batch_split(16) == [8, 4, 2, 1, 1]
    assert {1, 3, 6} <= {p["B"] for p in profile.raw["calibration"]["target_points"]}


def test_sweep_is_cached_and_regret_rows_are_sound(loop, tmp_path):
    from planner.demo import closed_loop as CL
    from planner import validate as V

    world, backend, profile, _ = loop
    configs = V.grid_configs(profile, (1, 3), (0, 2))
    probs = CL.problems(3, "test")
    cache, tag = tmp_path / "sweeps.jsonl", world.tag(problems=[p.problem_id for p in probs])
    first = CL.sweep(backend, probs, configs, None, cache, tag, log=lambda m: None, progress=False)
    assert set(first) == {c.key for c in configs}
    for c in configs:
        assert [r["problem_id"] for r in first[c.key]] == [p.problem_id for p in probs]
        assert all(len(r["branches"]) == c.branches for r in first[c.key])

    class Refuses:
        draft_len = 0

        def generate(self, *a, **kw):
            raise AssertionError("a cached configuration was measured again")

    assert CL.sweep(Refuses(), probs, configs, None, cache, tag, log=lambda m: None, progress=False) == first
    other = CL.sweep(backend, probs, configs[:1], None, cache, tag + "x", log=lambda m: None, progress=False)
    assert set(other) == {configs[0].key}       # another tag is measured afresh

    recs = first[configs[-1].key]
    late = max(r["latency_s"] for r in recs) + 1.0
    s_late, s_none = V.summarize(recs, late), V.summarize(recs, None)
    assert s_late["accuracy"] == s_none["accuracy"] and s_late["hit_rate"] == 1.0
    assert V.summarize(recs, 1e-6)["accuracy"] == 0.0        # nobody finished: no answer

    deadlines = CL.deadlines_between(first, 3)
    assert deadlines == sorted(deadlines) and len(set(deadlines)) == 3
    p90 = [float(np.quantile([r["latency_s"] for r in recs], 0.9)) for recs in first.values()]
    assert deadlines[0] == pytest.approx(1.05 * min(p90), abs=1e-4)   # off the fastest one's knife edge
    assert deadlines[-1] == pytest.approx(1.05 * max(p90), abs=1e-4)
    rows = CL.regret_rows(profile, configs, first, deadlines, 0.9, ("exhaustive", "greedy"))
    assert len(rows) == 6
    for r in rows:
        assert r["regret_any"] >= -1e-12    # nothing beats the measured best over all configurations
        if r["pick"] is not None:
            assert r["pick"] in first and 0.0 <= r["hit_rate"] <= 1.0


def test_demo_runs_end_to_end(world_dir, tmp_path, capsys):
    from planner.cli import main
    from planner.plan import load_plan

    out = tmp_path / "demo"
    rc = main(["demo", "--weights", str(world_dir), "--problems", "3", "--cal-problems", "3", "--samples", "4",
               "--max-tokens", "32", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "[4/4] validate" in text and "summary (" in text
    plan = load_plan(str(out / "plan.json"))
    assert 1 <= plan.branches <= 4 and plan.deadline_s > 0
    assert len((out / "run.jsonl").read_text().splitlines()) == 3
    rows = json.loads((out / "validate.json").read_text())
    assert rows[0]["label"] == "plan" and rows[0]["branches"] == plan.branches
    assert rows[0]["measured"]["problems"] == 3
    # the artefacts are self-contained: the plan names its model folders, test.jsonl holds the problems
    rc = main(["validate", "--plan", str(out / "plan.json"), "--profile", str(out / "profile.json"), "--dataset",
               str(out / "test.jsonl"), "--limit", "2", "--template", "raw", "--threads", "1", "--max-tokens", "32",
               "--json"])
    assert rc == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rows"][0]["branches"] == plan.branches and again["rows"][0]["measured"]["problems"] == 2


def test_calibration_and_sweep_interleaved_match_the_sequential_sweep(loop, tmp_path):
    from planner.demo import closed_loop as CL
    from planner import validate as V

    world, backend, profile, _ = loop
    configs = V.grid_configs(profile, (1, 2), (0, 2))
    probs, cal = CL.problems(3, "test"), CL.problems(4, "val")
    lines = []
    path, inter = CL.calibrate_and_sweep(world, backend, cal, probs, configs, tmp_path / "cal", 6, (0, 2),
                                         tmp_path / "sweeps.jsonl", "t", log=lines.append)
    # held-out problems are spread over the calibration: 3 over 4 calibration problems
    done = [int(x.split("held-out ")[1].split("/")[0]) for x in lines if "held-out" in x]
    assert done == [0, 1, 2, 3]
    assert path.is_file() and CL.cached_sweep(tmp_path / "sweeps.jsonl", "t", 3) == inter
    seq = CL.sweep(backend, probs, configs, None, None, "t", log=lambda m: None, progress=False)
    for c in configs:   # same seeds: same samples and answers, only the timings differ
        assert [[(b["answer"], b["num_tokens"]) for b in r["branches"]] for r in inter[c.key]] == \
               [[(b["answer"], b["num_tokens"]) for b in r["branches"]] for r in seq[c.key]]


def test_demo_refuses_a_file_as_out_and_leaves_no_empty_out_on_failure(world_dir, tmp_path, capsys, monkeypatch):
    from planner.cli import main
    from planner.demo import closed_loop as CL
    from planner.errors import PlannerError

    f = tmp_path / "a-file"
    f.write_text("keep me")
    assert main(["demo", "--weights", str(world_dir), "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: error: --out") and "is a file" in err[0]
    assert f.read_text() == "keep me"

    def broken(*a, **kw):
        raise PlannerError("engine missing (simulated)")

    monkeypatch.setattr(CL, "load_backend", broken)
    new = tmp_path / "new" / "demo"
    assert main(["demo", "--weights", str(world_dir), "--out", str(new)]) == 2
    assert "engine missing (simulated)" in capsys.readouterr().err
    assert not new.exists()                       # created by the demo, empty: removed again
    kept = tmp_path / "existing"
    kept.mkdir()
    assert main(["demo", "--weights", str(world_dir), "--out", str(kept)]) == 2
    assert kept.is_dir()                          # the user's own folder stays
