"""The real engine, no mock: vLLM's CPU build serves a tiny random Llama (SmolLM2 tokenizer, made offline)
launched with the arguments `planner export --engine vllm` renders for a plan with n = 4 branches and ngram
speculation (K = 3). Against it: calibration `--quick`, the calibrated profile feeding `planner recommend`,
the plan run through the `openai` backend, a deadline that cuts every branch (and the engine stops them),
and the bad-model error line.

The server comes from the venv `.ci/vllm.sh` prepares (or $VLLM_PYTHON); without it the module skips with
that reason. One server for the whole module (~25 s to start on an idle 2-core machine), stopped by PID."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from planner.errors import PlannerError
from planner.plan import Plan, save_plan
from planner.profile.schema import Profile
from planner.calibrate.endpoint.measure import measure_endpoint
from planner.calibrate.settings import EndpointRun
from planner.profile.assemble import assemble
from planner.http import Endpoint
from tools.serving.launch import VllmServer
from vllm_marks import MARKS, STARTUP_S, VLLM_PY
from planner.calibrate.endpoint.metrics import SpecCounters, parse_prometheus

pytestmark = list(MARKS)
K = 3
CPU_FLAGS = ["--dtype", "bfloat16", "--max-model-len", "1024", "--enforce-eager"]  # test-box flags, not the plan's


def planner(*argv, check=True, timeout=300):
    r = subprocess.run([sys.executable, "-m", "planner", *argv], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if check and r.returncode != 0:
        raise AssertionError(f"planner {' '.join(argv)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def make_plan(model: str, path, deadline_s=None, max_tokens=48) -> str:
    plan = Plan(method="majority", branches=4, speculative={"method": "ngram", "num_speculative_tokens": K},
                deadline_s=deadline_s, predicted={}, profile={"id": "test-engine"},
                model={"name": "tiny-llama", "hf_id": model, "tensor_parallel": 1},
                sampling={"temperature": 0.8, "top_p": 1.0, "max_tokens": max_tokens})
    save_plan(plan, path)
    return str(path)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    from tools.serving.local_models import make_tiny_llama

    d = tmp_path_factory.mktemp("vllm-engine")
    model = str(make_tiny_llama(d / "tiny-llama"))
    plan = make_plan(model, d / "plan.json")
    export = json.loads(planner("export", plan, "--engine", "vllm", "--format", "json").stdout)
    argv = [*export["launcher"], *export["server_args"], *CPU_FLAGS]
    server = VllmServer(argv, python=VLLM_PY, workdir=d / "server", startup_timeout_s=STARTUP_S)
    server.start()
    try:
        yield {"server": server, "url": server.base_url, "model": model, "plan": plan, "dir": d,
               "launch": shlex.join(argv), "export": export}
    finally:
        pid = server.pid
        server.stop()
        assert pid is None or not os.path.exists(f"/proc/{pid}") or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    except OSError:
        return True


def scrape(url):
    return parse_prometheus(Endpoint(url, 15).get_text("/metrics"))


def test_exported_arguments_start_the_server(engine):
    args = engine["export"]["server_args"]
    spec = json.loads(args[args.index("--speculative-config") + 1])
    assert spec["method"] == "ngram" and spec["num_speculative_tokens"] == K
    served = Endpoint(engine["url"], 15).get_json("/v1/models")["data"]
    assert [m["id"] for m in served] == [engine["model"]]
    counters = SpecCounters.from_samples(scrape(engine["url"]))
    assert counters is not None and counters.num_positions == K  # the speculative config took effect
    print(f"\nvLLM startup to /health: {engine['server'].startup_s:.1f} s")


def test_calibrate_quick_then_recommend(engine):
    out = engine["dir"] / "profile.json"
    t = time.monotonic()
    prof = assemble(measure_endpoint(EndpointRun(engine["url"] + "/v1", engine["model"], quick=True,
                                                 launch_args=engine["launch"], output=str(out), timeout=120)).parts)
    took = time.monotonic() - t
    p = Profile.from_dict(prof)
    eng = prof["provenance"]["engine"]
    assert eng["name"] == "vllm" and eng["version"] == "0.32.0"
    assert eng["speculative_config"] == {"method": "ngram", "num_speculative_tokens": K, "prompt_lookup_max": 4,
                                         "prompt_lookup_min": 1}
    pts = prof["calibration"]["decode_points"]
    by_b = {d["B"]: d["t_s"] for d in pts if d["L"] < 100}
    assert set(by_b) == {1, 4, 16} and all(d["mode"] == "n" and d["t_s"] > 0 for d in pts)
    assert by_b[16] > by_b[1]                           # 16 branches per step cost more than one
    assert p.model.vocab == 49152 and p.model.layers == 4
    assert prof["calibration"]["lengths"]["n"] == 12    # 3 prompts x 4 branches
    assert prof["calibration"]["acceptance_counts"]["positions"] == K
    assert p.prefill.t0_s + p.prefill.s_per_token * 400 > 0
    # how this server prefills n branches, from vllm:cache_config_info: the CPU build's 128-token KV blocks with
    # V1's prefix caching, so each decode point's short prompt is prefilled once per branch (docs/serving.md s.4)
    assert (p.prefill_sharing.mode, p.prefill_sharing.block_size, p.prefill_sharing.prefix_caching) == \
        ("blocks", 128, True) and p.prefill_sharing.source == "vllm:cache_config_info"
    assert all(d["prefilled_tokens"] == d["B"] * d["prompt_tokens"] for d in pts if d["prompt_tokens"] <= 128)
    print(f"\nquick calibration {took:.1f} s; phases {prof['calibration']['phases_s']}; step fit error "
          f"{p.step.fit_rel_error:.1%}; steps {by_b}")
    out.write_text(json.dumps(prof))
    r = planner("recommend", "--profile", str(out), "--deadline", "30s", "--json")
    rec = json.loads(r.stdout)
    assert rec["schema"] == "tts-plan/1" and rec["branches"] >= 1


def _run_available() -> bool:
    from planner.commands import COMMANDS

    return "run" in COMMANDS


@pytest.mark.skipif(not _run_available(), reason="`planner run` (executor) is not registered in this checkout")
def test_run_plan_n4_ngram_on_engine(engine):
    before = scrape(engine["url"])
    out = engine["dir"] / "run.jsonl"
    planner("run", "--plan", engine["plan"], "--backend", "openai", "--url", engine["url"] + "/v1",
            "--prompt", "What is 2 + 3?", "--out", str(out), "--no-early-stop", "--quiet")
    rec = json.loads(out.read_text().splitlines()[0])
    assert len(rec["branches"]) == 4
    after = scrape(engine["url"])
    n_sum = lambda s: sum(v for _, v in s.get("vllm:request_params_n_sum", []))  # noqa: E731
    assert n_sum(after) - n_sum(before) == 4            # one request carrying n = 4 reached the engine
    gen = lambda s: sum(v for _, v in s.get("vllm:generation_tokens_total", []))  # noqa: E731
    # The engine's counter is the truth. With n = 4 in one stream the executor counts each branch's non-empty
    # content chunks (one token each; an EOS token or a detokeniser hold-back sends an empty one), so its sum is
    # at most the engine's count and short of it by about one token per branch; each branch <= max_tokens (48).
    produced, counted = gen(after) - gen(before), sum(b["num_tokens"] for b in rec["branches"])
    assert 0 < counted <= produced <= 4 * 48 and produced - counted <= max(8, produced // 10), (counted, produced)
    assert rec["num_tokens"] == counted


@pytest.mark.skipif(not _run_available(), reason="`planner run` (executor) is not registered in this checkout")
def test_deadline_cuts_branches_and_engine_stops_them(engine):
    plan = make_plan(engine["model"], engine["dir"] / "plan-deadline.json", deadline_s=1.0, max_tokens=900)
    out = engine["dir"] / "cut.jsonl"
    t = time.monotonic()
    planner("run", "--plan", plan, "--backend", "openai", "--url", engine["url"] + "/v1",
            "--prompt", "Count to one thousand.", "--out", str(out), "--quiet")
    wall = time.monotonic() - t
    rec = json.loads(out.read_text().splitlines()[0])
    assert len(rec["cut_branches"]) == 4 and rec["latency_s"] < 3.0, rec
    deadline = time.monotonic() + 30                    # the engine aborts the abandoned request
    while time.monotonic() < deadline:
        running = sum(v for _, v in scrape(engine["url"]).get("vllm:num_requests_running", []))
        if running == 0:
            break
        time.sleep(0.5)
    assert running == 0
    print(f"\ndeadline run: latency {rec['latency_s']:.2f} s (process {wall:.1f} s)")


def test_model_not_served_is_one_clear_line(engine):
    with pytest.raises(PlannerError, match=r"model 'nope' is not served by http://127\.0\.0\.1:\d+; it serves: "):
        measure_endpoint(EndpointRun(engine["url"], "nope", quick=True))
