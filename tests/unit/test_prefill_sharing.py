"""Prefill sharing between the N branches of one request, as the engine does it (docs/serving.md §4).

Oracles: prefilled-token counts written by hand from vLLM's block accounting (full blocks shared, the last
prompt token never served from cache), a brute-force simulation of a prefix cache that hashes full blocks and
schedules the children one after another, and the request latency of a profile recomputed by hand."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.model.latency import latency_grid, prefill_time, prefilled_tokens
from planner.profile import load_profile
from planner.profile.schema import PrefillSharing, Profile

BLOCKS = PrefillSharing("blocks", 128, True)
OFF = PrefillSharing("none", 128, False)

# (prompt tokens P, block size b, prefix caching, branches N) -> tokens vLLM computes, by hand
HAND = [
    (118, 128, True, 6, 6 * 118),                 # shorter than a block: every branch recomputes it (issue 16)
    (1353, 128, True, 16, 1353 + 15 * 73),        # 10 full blocks shared, 73-token tail per branch (serving.md)
    (128, 128, True, 4, 4 * 128),                 # exactly one block: its last token must be recomputed -> all
    (129, 128, True, 4, 129 + 3 * 1),             # one shared block, one token per further branch
    (256, 128, True, 3, 256 + 2 * 128),           # 2 blocks, the second holds the last token: 1 shared
    (118, 16, True, 6, 118 + 5 * 6),              # GPU default block 16: 7 blocks shared, tail 6
    (45, 16, True, 4, 45 + 3 * 13),               # 2 blocks shared, tail 13
    (16, 16, True, 8, 8 * 16),
    (17, 16, True, 8, 17 + 7 * 1),
    (1, 16, True, 5, 5),
    (118, 128, True, 1, 118),
    (1353, 128, False, 16, 16 * 1353),            # prefix caching off: every branch in full
    (118, 16, False, 6, 6 * 118),
]


@pytest.mark.parametrize("P,b,caching,N,expected", HAND)
def test_prefilled_tokens_match_hand_counts(P, b, caching, N, expected):
    sharing = PrefillSharing("blocks" if caching else "none", b, caching)
    assert prefilled_tokens(sharing, P, N) == expected


def _simulate(P: int, b: int, caching: bool, N: int) -> int:
    """A prefix cache as vLLM keeps one: a child looks up the chain of its full prompt blocks (at most up to
    P - 1 tokens, since the last token's logits are needed), computes the rest, then registers its full
    blocks. Children are scheduled one after another, as vLLM's scheduler adds them."""
    cache: set[tuple[int, ...]] = set()
    prompt = tuple(range(P))
    total = 0
    for _ in range(N):
        hit = 0
        if caching:
            while (hit + 1) * b <= P - 1 and prompt[:(hit + 1) * b] in cache:
                hit += 1
        total += P - hit * b
        if caching:
            for k in range(1, P // b + 1):
                cache.add(prompt[:k * b])
    return total


@pytest.mark.parametrize("P,b,caching", list(itertools.product((1, 15, 16, 17, 45, 118, 127, 128, 129, 300, 1353),
                                                                 (1, 16, 128), (True, False))))
@pytest.mark.slow
def test_rule_equals_simulated_prefix_cache(P, b, caching):
    sharing = PrefillSharing("blocks" if caching else "none", b, caching)
    Ns = np.array([1, 2, 4, 7, 16])
    assert prefilled_tokens(sharing, P, Ns).tolist() == [_simulate(P, b, caching, int(n)) for n in Ns]


def test_once_is_the_local_engine_and_the_default():
    assert prefilled_tokens(PrefillSharing(), 118, np.array([1, 6, 64])).tolist() == [118, 118, 118]
    old = load_profile("cpu-smollm2-135m")          # written before the field existed: keeps prefill-once
    assert old.prefill_sharing == PrefillSharing()


def _profile(sharing: dict | None, P: int = 118) -> Profile:
    data = copy.deepcopy(load_profile("cpu-smollm2-135m").to_dict())
    data["prompt_tokens"] = P
    data["prefill"] = {"t0_s": 0.05, "s_per_token": 0.02}
    data.pop("serving", None)
    if sharing is not None:
        data["serving"] = {"prefill_sharing": sharing}
    return Profile.from_dict(data)


def test_request_latency_adds_exactly_the_extra_prefill():
    """Same profile but for sharing: the latency difference at N is s_per_token * (extra prefilled tokens),
    at every quantile (decode is unchanged)."""
    N = np.array([1, 4, 6])
    once = latency_grid(_profile(None), N, [0])
    blk = latency_grid(_profile({"mode": "blocks", "block_size": 128, "prefix_caching": True}), N, [0])
    extra = 0.02 * (N - 1) * 118                                 # P = 118 < 128: every branch recomputes all
    assert np.allclose(blk.mean[0] - once.mean[0], extra, rtol=1e-9, atol=1e-9)
    assert np.allclose(blk.quantile(0.9)[0] - once.quantile(0.9)[0], extra, rtol=1e-6, atol=1e-6)
    g16 = latency_grid(_profile({"mode": "blocks", "block_size": 16, "prefix_caching": True}), N, [0])
    assert np.allclose(g16.mean[0] - once.mean[0], 0.02 * (N - 1) * 6)    # tail 118 - 112 = 6
    assert float(prefill_time(_profile(None), 6)) == pytest.approx(0.05 + 0.02 * 118)


def test_profile_round_trip_and_bad_fields():
    p = _profile({"mode": "blocks", "block_size": 16, "prefix_caching": True, "source": "vllm:cache_config_info"})
    assert p.prefill_sharing == PrefillSharing("blocks", 16, True, "vllm:cache_config_info")
    bad = [({"mode": "sometimes"}, "serving.prefill_sharing.mode must be one of once, blocks, none"),
           ({"mode": "blocks"}, "serving.prefill_sharing.block_size is missing"),
           ({"mode": "blocks", "block_size": 0}, "serving.prefill_sharing.block_size must be positive"),
           ({"mode": "blocks", "block_size": 16, "prefix_caching": "yes"}, "must be true or false"),
           ({"mode": "blocks", "block_size": 16, "prefix_caching": False}, "use mode 'none'")]
    for sharing, msg in bad:
        with pytest.raises(PlannerError, match=msg.replace("(", r"\(")):
            _profile(sharing)


# ---- read from the server at calibration ----------------------------------------------------------------------

def test_sharing_from_cache_metrics_launch_args_or_default(capsys):
    from planner.calibrate.endpoint.sharing import prefill_sharing

    notes: list[str] = []
    cpu = {"block_size": "128", "enable_prefix_caching": "True", "cache_dtype": "auto"}
    assert prefill_sharing("vllm", cpu, None, notes) == {"mode": "blocks", "block_size": 128, "prefix_caching": True,
                                                         "source": "vllm:cache_config_info"}
    off = prefill_sharing("vllm", {"block_size": "16", "enable_prefix_caching": "False"}, None, notes)
    assert (off["mode"], off["prefix_caching"]) == ("none", False) and notes == []
    got = prefill_sharing("vllm", {}, "vllm serve m --block-size 32", notes)
    assert (got["mode"], got["block_size"]) == ("blocks", 32) and "launch arguments" in notes[-1]
    got = prefill_sharing("vllm", {}, "vllm serve m --no-enable-prefix-caching", notes)
    assert got["mode"] == "none"
    got = prefill_sharing("sglang", {}, "python -m sglang.launch_server --page-size 4", notes)
    assert (got["mode"], got["block_size"]) == ("blocks", 4)
    assert prefill_sharing("sglang", {}, "x --disable-radix-cache", notes)["mode"] == "none"
    notes.clear()
    got = prefill_sharing("vllm", {}, None, notes)               # nothing known: documented default, said
    assert (got["mode"], got["block_size"], got["prefix_caching"]) == ("blocks", 16, True)
    assert "no KV-cache configuration" in notes[0] and "no KV-cache configuration" in capsys.readouterr().err
    for section in (prefill_sharing("vllm", cpu, None, []), off, got):   # valid profile input as written
        assert _profile(section).prefill_sharing.mode == section["mode"]


def test_ttft_points_are_checked_against_the_rule():
    """The decode sweep's first-token times at n = 1, 4, 16 on a 30-token prompt, by hand: with 128-token
    blocks every branch prefills 30 tokens, t = 0.1 + 0.01 * 30 n."""
    from planner.calibrate.endpoint.sharing import check_ttft

    pts = [{"B": b, "prompt_tokens": 30, "ttft_s": 0.1 + 0.01 * 30 * b} for b in (1, 4, 16)]
    notes: list[str] = []
    check_ttft(pts, 0.1, 0.01, {"mode": "blocks", "block_size": 128, "prefix_caching": True}, notes)
    assert [p["prefilled_tokens"] for p in pts] == [30, 120, 480]
    assert [p["ttft_predicted_s"] for p in pts] == pytest.approx([0.4, 1.3, 4.9])
    assert "n=16" in notes[-1] and "agrees" in notes[-1]
    check_ttft(pts, 0.1, 0.01, {"mode": "once"}, notes)          # prefill-once would predict 0.4 s at n=16
    assert "DISAGREES" in notes[-1]


@pytest.mark.parametrize("data,msg", [
    ([], "serves no model"),
    ([{"id": "a"}, {"id": "b"}], "serves 2 models (a, b): pass --model NAME"),
])
@pytest.mark.slow
def test_none_or_several_served_models_ask_which(data, msg, tmp_path, capsys):
    import json as _json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from planner.calibrate.endpoint.probe import served_entry
    from planner.cli import main

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = _json.dumps({"data": data}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        rc = main(["calibrate", "--endpoint", f"http://127.0.0.1:{srv.server_address[1]}", "--quick",
                   "-o", str(tmp_path / "p.json")])
    finally:
        srv.shutdown()
        srv.server_close()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and msg in err[0]
    assert served_entry("u", [{"id": "a"}, {"id": "b"}], "b")[0] == {"id": "b"}
    with pytest.raises(PlannerError, match="is not served"):
        served_entry("u", [{"id": "a"}], "zzz")
