"""Draft kinds (EAGLE/EAGLE-3/MTP heads) and tree drafts: tau of a tree against a brute-force enumeration of
every accept/reject outcome of its nodes, the top-1 tree against the chain, a head's step cost against its
parameter count by hand, and profiles with the new kinds loading, round-tripping and refusing bad input."""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.model import drafts
from planner.model.latency import draft_step, join, round_time, tau, target_step, tokens_per_round
from planner.profile.presets import SPECULATION
from planner.profile.schema import DraftSpec, HeadSpec, ModelArch, Profile

ROOT = Path(__file__).resolve().parents[2]


def brute_tau(paths: list[tuple[int, ...]], alpha) -> float:
    """1 + E[accepted drafts], enumerating every accept (1) / reject (0) outcome of every node: from the root,
    children are tried in rank order and the first accepted one is followed."""
    paths = list(paths)
    children = {}
    for p in paths:
        children.setdefault(p[:-1], []).append(p)
    for c in children.values():
        c.sort(key=lambda q: q[-1])
    total = 0.0
    for bits in itertools.product((0, 1), repeat=len(paths)):
        ok = dict(zip(paths, bits))
        prob = np.prod([alpha[len(p) - 1] if b else 1 - alpha[len(p) - 1] for p, b in ok.items()])
        node, length = (), 0
        while True:
            nxt = next((c for c in children.get(node, []) if ok[c]), None)
            if nxt is None:
                break
            node, length = nxt, length + 1
        total += prob * length
    return 1.0 + total


def closed_subtrees(full: list[tuple[int, ...]], size: int):
    """Every subset of `full` of `size` nodes that contains each node's parent and elder sibling."""
    for sub in itertools.combinations(full, size):
        s = set(sub)
        if all((len(p) == 1 or p[:-1] in s) and (p[-1] == 1 or p[:-1] + (p[-1] - 1,) in s) for p in sub):
            yield sub


@pytest.mark.parametrize("alpha,depth,topk", [((0.7, 0.5, 0.4), 3, 2), ((0.9, 0.3), 2, 3),
                                              ((0.6, 0.8, 0.2), 3, (3, 1, 2)), ((0.0, 1.0), 2, 2),
                                              ((0.5, 0.6, 0.7), 3, 1)])
def test_tree_tau_matches_enumeration(alpha, depth, topk):
    nodes = drafts.tree_nodes(alpha, depth, topk)
    assert len(nodes) == drafts.tree_size(depth, topk) == drafts.pool_size(depth, topk)
    assert drafts.tree_tau(alpha, depth, topk) == pytest.approx(brute_tau([p for p, _ in nodes], alpha), abs=1e-12)
    if depth <= 2:  # every node of depth 1 is a beam: the full tree, 1 + sum_d prod_{j<=d} (1 - (1 - a_j)^k_j)
        ks = topk if isinstance(topk, tuple) else (topk,) * depth
        closed = 1 + sum(np.prod([1 - (1 - alpha[j]) ** ks[j] for j in range(d + 1)]) for d in range(depth))
        assert drafts.tree_tau(alpha, depth, topk) == pytest.approx(closed, abs=1e-12)


def test_pool_is_beams_times_children():
    """EAGLE-2 / SGLang: depth 1 holds k nodes, every further depth the k most probable nodes' k children each;
    at depth 3 with k = 2 that is 2 + 4 + 4 (a full binary tree would hold 14), and the beams are the best."""
    nodes = drafts.tree_nodes((0.6, 0.5, 0.7), 3, 2)
    assert drafts.pool_size(3, 2) == 10 and drafts.pool_size(5, 4) == 4 + 4 * 16
    deep = sorted(p[:2] for p, _ in nodes if len(p) == 3)
    assert deep == [(1, 1), (1, 1), (1, 2), (1, 2)]  # P(1,1) = .3, P(1,2) = .15 beat P(2,1) = .12, P(2,2) = .06


@pytest.mark.parametrize("budget", [1, 2, 4, 6])
def test_budget_tree_is_the_best_closed_subtree(budget):
    alpha = (0.6, 0.5, 0.7)
    full = [p for p, _ in drafts.tree_nodes(alpha, 3, 2)]  # the candidate pool
    best = max(brute_tau(list(s), alpha) for s in closed_subtrees(full, budget))
    nodes = drafts.tree_nodes(alpha, 3, 2, budget)
    assert len(nodes) == budget == drafts.tree_size(3, 2, budget)
    assert drafts.tree_tau(alpha, 3, 2, budget) == pytest.approx(best, abs=1e-12)
    assert brute_tau([p for p, _ in nodes], alpha) == pytest.approx(best, abs=1e-12)


def test_top1_tree_is_the_chain():
    alpha = np.array([0.8, 0.6, 0.5, 0.45, 0.4])
    assert drafts.tree_tau(alpha, 1, 1) == pytest.approx(1 + 0.8)
    for k in range(6):
        assert drafts.tree_tau(alpha, k, 1) == pytest.approx(float(tau(alpha, k)))
        assert drafts.tree_size(k, 1) == k


def _profile() -> dict:
    return json.loads((ROOT / "profiles" / "h100-sxm-qwen2.5-7b.json").read_text())


def _eagle_profile(kind="eagle3", tree=None, head=None) -> Profile:
    d = _profile()
    d["draft"] = {"kind": kind, "head": head or {"layers": 1, "draft_vocab": 32000}}
    if tree is not None:
        d["draft"]["tree"] = tree
    d["step"].pop("draft", None)
    return Profile.from_dict(d, origin="test")


def test_head_step_cost_from_its_architecture():
    p = _eagle_profile()
    t = p.model
    layer = (t.params - 2 * t.vocab * t.hidden) / t.layers
    arch = drafts.draft_arch(t, p.draft)
    assert arch.params == pytest.approx(layer + 3 * t.hidden ** 2 + 32000 * t.hidden)
    assert (arch.layers, arch.hidden, arch.kv_heads, arch.vocab) == (1, t.hidden, t.kv_heads, 32000)
    # no own coefficients: the head runs on the target's; its step is a small share of the target's
    ds, ts = draft_step(p), target_step(p)
    # (bandwidth, FLOP/s, roofline join), with a draft step's launch cost and no verify overhead
    assert (ds.coeffs.weight_bw_GBps, ds.coeffs.tflops, ds.coeffs.roofline_p) == (
        p.step.weight_bw_GBps, p.step.tflops, p.step.roofline_p)
    # an EAGLE-3 step pays the fitted EAGLE-3 step cost on top of the draft launch cost; an EAGLE-1 step does not
    t0 = SPECULATION["draft_t0_s"]["value"] + SPECULATION["eagle3_step_s"]["value"]
    assert ds.coeffs.t0_s == t0 and ds.verify_s == 0.0
    assert draft_step(_eagle_profile("eagle")).coeffs.t0_s == SPECULATION["draft_t0_s"]["value"]
    mem_head = arch.weight_bytes / (p.step.weight_bw_GBps * 1e9)
    comp_head = 2 * arch.params / (p.step.tflops * 1e12)
    assert float(ds.time(1, 1, 0)) == pytest.approx(t0 + float(join(mem_head, comp_head, p.step.roofline_p)),
                                                    rel=1e-9)
    assert float(ds.time(1, 1, 0)) < 0.25 * float(ts.time(1, 1, 0))
    # an explicit parameter count wins; MTP/EAGLE fuse 2 hidden vectors, EAGLE-3 three
    assert drafts.draft_arch(t, DraftSpec("mtp", head=HeadSpec(params=1e9))).params == 1e9
    e1 = drafts.draft_arch(t, DraftSpec("eagle", head=HeadSpec()))
    assert e1.params == pytest.approx(layer + 2 * t.hidden ** 2 + t.vocab * t.hidden)


def test_tree_round_prices_its_width_and_beams():
    p = _eagle_profile(tree={"topk": 4, "tokens": 10})
    ts, ds = target_step(p), draft_step(p)
    K, B, L = 3, 2, 500
    want = ts.time(B, 11, L) + ds.time(B, 1, L) + 2 * ds.time(B, 4, L)
    assert float(round_time(p, K, B, L)) == pytest.approx(float(want), rel=1e-12)
    alpha = list(p.acceptance.alpha) + [p.acceptance.alpha[-1]] * 3
    assert float(tokens_per_round(p, np.array([K]))[0]) == pytest.approx(drafts.tree_tau(alpha[:3], 3, 4, 10))
    # top-1 tree == chain, in the whole round
    chain, top1 = _eagle_profile(), _eagle_profile(tree={"topk": 1})
    Ks = np.arange(6)
    assert np.allclose(round_time(chain, Ks, B, L), round_time(top1, Ks, B, L), rtol=1e-12)
    assert np.allclose(tokens_per_round(chain, Ks), tokens_per_round(top1, Ks), rtol=1e-12)


def test_profile_round_trip_and_old_profiles_unchanged():
    for f in sorted((ROOT / "profiles").glob("*.json")):
        d = json.loads(f.read_text())
        p = Profile.from_dict(copy.deepcopy(d), origin=f.name)
        assert p.draft.head is None and p.draft.tree is None
    p = _eagle_profile(tree={"topk": [4, 2], "tokens": 12}, head={"layers": 2, "hf_id": "org/eagle3"})
    p2 = Profile.from_dict(json.loads(json.dumps(p.to_dict())), origin="rt")
    assert p2.draft == p.draft and p2.draft.name == "org/eagle3"


@pytest.mark.parametrize("change,msg", [
    (lambda d: d["draft"].update(kind="medusa"), "draft.kind must be one of"),
    (lambda d: d["acceptance"].update(alpha=[0.5, 1.2]), "acceptance.alpha[1] must be in [0.0, 1.0]"),
    (lambda d: d["draft"].update(tree={"topk": 0}), "draft.tree.topk must be an integer in [1, 64]"),
    (lambda d: d["draft"].update(kind="ngram", tree={"topk": 2}), "draft.tree needs a drafter"),
    (lambda d: d["draft"].update(head={"layers": 0}), "draft.head.layers must be positive"),
])
def test_bad_draft_input_is_one_line(change, msg):
    d = copy.deepcopy(_eagle_profile().to_dict())
    change(d)
    with pytest.raises(PlannerError) as e:
        Profile.from_dict(d, origin="bad.json")
    assert msg in str(e.value) and "\n" not in str(e.value)


def _cli(*args, cwd) -> "subprocess.CompletedProcess":
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def _one_line_error(r, *needles):
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), r.stderr
    assert all(n in lines[0] for n in needles), lines[0]


@pytest.mark.slow
def test_cli_tree_plan_for_sglang_and_refusals(tmp_path):
    """recommend plans a tree and SGLang gets its numbers; an engine that drafts chains refuses it (exit 2, one
    line, nothing written), as do an unknown draft kind and alpha outside [0, 1]."""
    prof = _eagle_profile(tree={"topk": 4, "tokens": 15}, head={"draft_vocab": 32000, "hf_id": "org/eagle3"})
    (tmp_path / "tree.json").write_text(json.dumps(prof.to_dict()))
    r = _cli("recommend", "-p", "tree.json", "-d", "30s", "-o", "plan.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    spec, k = plan["speculative"], plan["speculative"]["num_speculative_tokens"]
    assert spec["method"] == "eagle3" and spec["draft_model"] == "org/eagle3" and k >= 1
    assert (spec["eagle_topk"], spec["num_draft_tokens"]) == (4, drafts.tree_size(k, 4, 15) + 1)
    r = _cli("export", "plan.json", "--engine", "sglang", "--format", "json", cwd=tmp_path)
    args = json.loads(r.stdout)["server_args"]
    assert args[args.index("--speculative-algorithm") + 1] == "EAGLE3"
    assert args[args.index("--speculative-eagle-topk") + 1] == "4"
    for engine in ("vllm", "trtllm"):
        _one_line_error(_cli("export", "plan.json", "--engine", engine, "-o", f"{engine}.out", cwd=tmp_path),
                        "eagle_topk is 4")
        assert not (tmp_path / f"{engine}.out").exists()
    _one_line_error(_cli("recommend", "-p", "tree.json", "-d", "30s", "--engine", "vllm", "-o", "p2.json",
                         cwd=tmp_path), "draft.tree.topk 4")
    assert not (tmp_path / "p2.json").exists()
    for change, needle in ((lambda d: d["draft"].update(kind="eagle4"), "draft.kind must be one of"),
                           (lambda d: d["acceptance"].update(alpha=[0.7, -0.1]), "acceptance.alpha[1]")):
        d = copy.deepcopy(prof.to_dict())
        change(d)
        (tmp_path / "bad.json").write_text(json.dumps(d))
        _one_line_error(_cli("recommend", "-p", "bad.json", "-d", "30s", "-o", "p3.json", cwd=tmp_path), needle)
        assert not (tmp_path / "p3.json").exists()


def test_head_matches_the_bench_s_published_eagle3_head():
    """bench/spec_published.py writes the Llama-3.1-8B EAGLE-3 head out by hand from its config.json (one Llama
    layer + 3 h^2 fc + 32000-row LM head); the generic rule from the target's parameter count agrees."""
    bench = pytest.importorskip("bench.spec_published")
    target, head = bench.ARCHS["llama3.1-8b"], bench.ARCHS["eagle3-head"]
    arch = drafts.draft_arch(target, DraftSpec("eagle3", head=HeadSpec(draft_vocab=32000)))
    assert arch.params == pytest.approx(head.params, rel=1e-3)
    assert (arch.layers, arch.hidden, arch.kv_heads, arch.head_dim) == (1, 4096, 8, 128)


def _with_length(length: dict) -> dict:
    d = copy.deepcopy(_eagle_profile().to_dict())
    d["acceptance"] = {"temperature": 0.0, "length": length}
    return d


def test_alpha_from_published_acceptance_length():
    # one K: the constant alpha of a chain, by the quadratic formula at K = 2 (1 + a + a^2 = tau)
    p = Profile.from_dict(_with_length({"2": 2.5}), origin="t")
    a = (-1 + np.sqrt(1 + 4 * 1.5)) / 2
    assert p.acceptance.alpha == pytest.approx((a, a), abs=1e-12)
    # several K: every reported length reproduced by tau of the derived alpha
    lengths = {"1": 1.8, "3": 3.1, "6": 3.9}
    p = Profile.from_dict(_with_length(lengths), origin="t")
    alpha = np.array(p.acceptance.alpha)
    assert len(alpha) == 6 and alpha[0] == pytest.approx(0.8, abs=1e-12)
    for k, t in lengths.items():
        assert float(tau(alpha, int(k))) == pytest.approx(t, abs=1e-9)
    # alpha given explicitly wins (length is then only a note)
    d = _with_length({"2": 2.5})
    d["acceptance"]["alpha"] = [0.9]
    assert Profile.from_dict(d, origin="t").acceptance.alpha == (0.9,)


@pytest.mark.parametrize("length,msg", [({"2": 3.5}, "acceptance.length.2 is 3.5: must lie in [1, 3]"),
                                        ({"1": 1.9, "2": 1.5}, "acceptance.length.2 is 1.5: must lie in"),
                                        ({"x": 2.0}, "acceptance.length.x must be a draft length")])
def test_impossible_acceptance_length_is_one_line(length, msg):
    with pytest.raises(PlannerError) as e:
        Profile.from_dict(_with_length(length), origin="bad.json")
    assert msg in str(e.value) and "\n" not in str(e.value)
