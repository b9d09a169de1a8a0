"""`measure_endpoint` end to end against a small in-process OpenAI-compatible server with a known step
time and known speculative counters, plus every failure the issue lists: unreachable, not OpenAI-compatible,
model not served, no /metrics, a server that hangs, and one that dies mid-run (partial result saved).

The real engine is exercised in test_serving_engine.py; this file pins the arithmetic and the error lines
in a second each, without the 3 GB vLLM venv."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.profile.schema import Profile
from planner.calibrate.endpoint.measure import measure_endpoint
from planner.calibrate.settings import EndpointRun
from planner.profile.assemble import assemble
from tools.serving.launch import free_port

CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
          "max_position_embeddings": 1024, "tie_word_embeddings": True, "torch_dtype": "bfloat16"}


class Fake:
    """Behaviour switches of the fake server; step time = 2 ms + 0.25 ms per branch."""

    def __init__(self, root: str):
        self.root = root
        self.metrics = True
        self.openai = True
        self.hang_s = 0.0
        self.die_at_batch: int | None = None
        self.draft_scale = 1.0          # drafts per request relative to the default 10 per branch
        self.base_len = 40              # tokens of a request's first branch (the others +3, +6, ...)
        self.sglang_tau: float | None = None   # export SGLang's accept-length gauge instead of vLLM counters
        self.spec = {"drafts": 0, "draft_tokens": 0, "accepted": 0, "pos": [0, 0, 0]}
        self.server_info: dict | None = None  # GET /server_info (SGLang; vLLM with VLLM_SERVER_DEV_MODE=1)
        self.lock = threading.Lock()

    def step_s(self, b: int) -> float:
        return 0.002 + 0.00025 * b

    def metrics_text(self) -> str:
        if self.sglang_tau is not None:
            return (f'sglang:num_running_reqs{{model_name="m"}} 0\n'
                    f'sglang:spec_accept_length{{model_name="m",tp_rank="0"}} {self.sglang_tau}\n')
        s = self.spec
        lines = [f'vllm:spec_decode_num_drafts_total{{model_name="m"}} {s["drafts"]}',
                 f'vllm:spec_decode_num_draft_tokens_total{{model_name="m"}} {s["draft_tokens"]}',
                 f'vllm:spec_decode_num_accepted_tokens_total{{model_name="m"}} {s["accepted"]}']
        lines += [f'vllm:spec_decode_num_accepted_tokens_per_pos_total{{model_name="m",position="{i}"}} {v}'
                  for i, v in enumerate(s["pos"])]
        return "\n".join(lines) + "\n"


def handler(fake: Fake):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, obj, ctype="application/json"):
            body = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            time.sleep(fake.hang_s)
            if self.path == "/v1/models" and fake.openai:
                return self._send(200, {"data": [{"id": "m", "root": fake.root, "max_model_len": 1024}]})
            if self.path == "/version":
                return self._send(200, {"version": "0.0-fake"})
            if self.path.split("?")[0] == "/server_info" and fake.server_info is not None:
                return self._send(200, fake.server_info)
            if self.path == "/metrics" and fake.metrics:
                return self._send(200, fake.metrics_text(), "text/plain")
            return self._send(404, {"detail": "Not Found"}) if fake.openai else self._send(404, "<html>nope</html>",
                                                                                           "text/html")

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if req.get("model") != "m":
                return self._send(404, {"error": {"message": f"The model `{req.get('model')}` does not exist."}})
            n, T = int(req.get("n", 1)), int(req.get("max_tokens", 16))
            if self.path == "/v1/chat/completions":
                with fake.lock:  # 10 drafts per branch and request: alpha = 0.8, 0.5, 0.5
                    s = fake.spec
                    f = fake.draft_scale
                    s["drafts"] += round(10 * n * f)
                    s["draft_tokens"] += round(30 * n * f)
                    s["accepted"] += round(14 * n * f)
                    s["pos"] = [s["pos"][0] + round(8 * n * f), s["pos"][1] + round(4 * n * f),
                                s["pos"][2] + round(2 * n * f)]
                lens = [fake.base_len + 3 * i for i in range(n)]
                choices = [{"index": i, "message": {"role": "assistant", "content": "x" * k},
                            "logprobs": {"content": [{"token": "x"}] * k}, "finish_reason": "stop"}
                           for i, k in enumerate(lens)]
                return self._send(200, {"choices": choices, "usage": {"prompt_tokens": 20,
                                                                     "completion_tokens": sum(lens)}})
            ptoks = len(str(req.get("prompt", "")).split())
            if not req.get("stream"):
                time.sleep(0.001 + 0.00002 * ptoks)
                return self._send(200, {"choices": [{"index": 0, "text": "a", "finish_reason": "length"}],
                                        "usage": {"prompt_tokens": ptoks, "completion_tokens": 1}})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for step in range(T):
                if fake.die_at_batch == n and step == 3:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                time.sleep(fake.step_s(n))
                for i in range(n):
                    self.wfile.write(f'data: {json.dumps({"choices": [{"index": i, "text": " t"}]})}\n\n'.encode())
                self.wfile.flush()
            self.wfile.write(f'data: {json.dumps({"choices": [], "usage": {"prompt_tokens": ptoks}})}\n\n'
                             'data: [DONE]\n\n'.encode())
    return H


@pytest.fixture
def fake_server(tmp_path):
    root = tmp_path / "model"
    root.mkdir()
    (root / "config.json").write_text(json.dumps(CONFIG))
    fake = Fake(str(root))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None  # clients that time out on purpose leave broken pipes behind
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield fake, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def args(url, tmp_path, **kw):
    d = dict(endpoint=url, model="m", quick=True, timeout=10, output=str(tmp_path / "prof.json"),
             launch_args="vllm serve m --speculative-config '{\"method\":\"ngram\",\"num_speculative_tokens\":3}'")
    d.update(kw)
    return EndpointRun(**d)


def calibrate_endpoint(run: EndpointRun) -> dict:
    """The profile dict the endpoint source gives, through the one assembler (as `planner calibrate` writes it)."""
    return assemble(measure_endpoint(run).parts)


@pytest.mark.slow
def test_calibrates_profile_with_measured_acceptance(fake_server, tmp_path):
    fake, url = fake_server
    prof = calibrate_endpoint(args(url, tmp_path))
    p = Profile.from_dict(prof)
    assert p.acceptance.alpha == pytest.approx((0.8, 0.5, 0.5))
    # 3 requests x (40+43+46+49) tokens = 534; decode steps = 534 - 12 first tokens - 3*56 accepted = 354
    counts = prof["calibration"]["acceptance_counts"]
    assert counts["decode_steps"] == 354 and counts["draft_rate"] == round(120 / 354, 4)
    assert prof["acceptance"]["draft_rate"] == counts["draft_rate"]
    assert p.draft.kind == "ngram" and "K=3" in p.draft.name
    eng = prof["provenance"]["engine"]
    assert eng["name"] == "vllm" and eng["version"] == "0.0-fake"
    assert eng["speculative_config"]["method"] == "ngram" and "vllm serve m" in eng["launch_args"]
    # built-in prompts x n branches, lengths 40, 43, 46, 49 per request
    assert p.lengths.kind == "empirical" and sorted(set(p.lengths.tokens)) == [40, 43, 46, 49]
    pts = {d["B"]: d for d in prof["calibration"]["decode_points"] if d["L"] < 100}
    assert set(pts) == {1, 4, 16}
    # the fake's step grows with B; timer noise on a busy machine only adds time
    assert pts[16]["t_s"] > pts[1]["t_s"] and pts[1]["t_s"] >= 0.002 * 0.9
    assert p.step.fit_rel_error is not None and p.model.layers == 2
    assert prof["prompt_tokens"] == 20


@pytest.mark.slow
def test_no_metrics_calibrates_rest_and_says_acceptance_unmeasured(fake_server, tmp_path):
    fake, url = fake_server
    fake.metrics = False
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=None))
    assert "acceptance" not in prof and prof["draft"]["kind"] == "none"
    assert any("acceptance is unmeasured" in n for n in prof["provenance"]["notes"])
    Profile.from_dict(prof)


@pytest.mark.slow
def test_rare_drafts_are_kept_as_a_measured_draft_rate(fake_server, tmp_path):
    fake, url = fake_server
    fake.draft_scale, fake.base_len = 0.05, 400     # 0.5 drafts per branch in ~400-token branches
    prof = calibrate_endpoint(args(url, tmp_path))
    p = Profile.from_dict(prof)
    counts = prof["calibration"]["acceptance_counts"]
    assert counts["drafts"] < 20 and counts["decode_steps"] > 1000
    assert p.draft.kind == "ngram" and p.acceptance.alpha == (0.0,)
    assert p.acceptance.draft_rate == counts["draft_rate"] < 0.01
    assert any("modelled as that draft rate" in n for n in prof["provenance"]["notes"])


@pytest.mark.slow
def test_sglang_mean_accept_length_gives_equal_alphas(fake_server, tmp_path):
    from planner.model.latency import alphas, tau

    fake, url = fake_server
    fake.sglang_tau = 2.2
    launch = "python -m sglang.launch_server --model m --speculative-algorithm EAGLE --speculative-num-steps 3"
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=launch))
    p = Profile.from_dict(prof)
    assert prof["provenance"]["engine"]["name"] == "sglang"
    assert p.draft.kind == "eagle" and p.draft.name == "server-side EAGLE (K=3)" and p.draft.cost == "in_step"
    a = p.acceptance.alpha
    assert len(a) == 3 and len(set(a)) == 1
    assert float(tau(alphas(p, 3), 3)) == pytest.approx(2.2, abs=1e-3)   # the model reproduces the gauge
    assert prof["calibration"]["acceptance_counts"]["mean_accept_length"] == 2.2
    # without the draft depth the mean cannot be split into positions: said, not guessed
    prof = calibrate_endpoint(args(url, tmp_path, launch_args="python -m sglang.launch_server --model m"))
    assert "acceptance" not in prof and any("--speculative-num-steps" in n for n in prof["provenance"]["notes"])


@pytest.mark.slow
def test_model_not_served_is_one_line(fake_server, tmp_path):
    _, url = fake_server
    with pytest.raises(PlannerError, match=r"model 'other' is not served by .*; it serves: m"):
        calibrate_endpoint(args(url, tmp_path, model="other"))


@pytest.mark.slow
def test_not_openai_compatible(fake_server, tmp_path):
    fake, url = fake_server
    fake.openai = False
    with pytest.raises(PlannerError, match="not OpenAI-compatible: GET /v1/models returned HTTP 404"):
        calibrate_endpoint(args(url, tmp_path))


@pytest.mark.slow
def test_unreachable_endpoint(tmp_path):
    with pytest.raises(PlannerError, match="unreachable"):
        calibrate_endpoint(args(f"http://127.0.0.1:{free_port()}", tmp_path))


@pytest.mark.slow
def test_hanging_server_times_out(fake_server, tmp_path):
    fake, url = fake_server
    fake.hang_s = 3.0
    t = time.monotonic()
    with pytest.raises(PlannerError, match="no answer to /v1/models within 1 s"):
        calibrate_endpoint(args(url, tmp_path, timeout=1))
    assert time.monotonic() - t < 2.9


def test_server_dying_mid_run_saves_partial(fake_server, tmp_path):
    fake, url = fake_server
    fake.die_at_batch = 16
    with pytest.raises(PlannerError, match=r"saved to .*prof\.json\.partial\.json") as e:
        calibrate_endpoint(args(url, tmp_path))
    assert "\n" not in str(e.value)
    part = json.loads(Path(tmp_path / "prof.json.partial.json").read_text())
    assert [d["B"] for d in part["decode_points"]] == [1, 4]
    assert not (tmp_path / "prof.json").exists()


@pytest.mark.slow
def test_bad_inputs_fail_before_measuring(fake_server, tmp_path):
    fake, url = fake_server
    with pytest.raises(PlannerError, match="--speculative-config is not JSON"):
        calibrate_endpoint(args(url, tmp_path, launch_args="vllm serve m --speculative-config {oops"))
    with pytest.raises(PlannerError, match="--tensor-parallel-size must be a positive integer"):
        calibrate_endpoint(args(url, tmp_path, launch_args="vllm serve m --tensor-parallel-size two"))
    fake.root = "org/remote-model"  # a hub id, not a local folder: the architecture must be given
    with pytest.raises(PlannerError, match="pass --model-config"):
        calibrate_endpoint(args(url, tmp_path))
    assert fake.spec["drafts"] == 0 and not (tmp_path / "prof.json.partial.json").exists()
