"""Plans under load on a real engine (issue 20, item 4): two vLLM CPU replicas serving SmolLM2-135M-Instruct,
calibrated through their API, then for three Poisson rates the plan `planner recommend --gpus 2 --arrival-rate R`
picks, driven by an open-loop generator (bench/loadgen.py), predicted vs measured p50/p90 latency and hit rate.

    planner calibrate --endpoint URL0 --quick -o ep.json                   # one replica: the layout is symmetric
    planner recommend --profile ep.json --deadline D --arrival-rate R --gpus 2 --max-branches 3 \
        --objective accuracy --json
    ... then R requests/s (Poisson) round-robin over the plan's replicas, each request n = the plan's N

The plan's figures under load are the simulation of the engine model the planner confirms its pick with
(planner/optimize/load_check.py: round-robin gives each of D replicas every D-th arrival, Erlang-D gaps), with
standard errors; the closed-form screen (planner/model/load.py) is printed next to them. Each replica runs
wholly on its own core (`taskset -c i`, its model threads bound there too), so that it runs the same whether its
neighbour, idle during the calibration, is busy or not (--threads-only binds only the model threads). This
generator floats and asks for no log-probs (a majority vote needs none). No speculative config: ngram drafts
gained nothing on free text on this build, so K = 0 and the plan's choice is N (and how many replicas take
requests). `--objective accuracy`: an endpoint profile's accuracy is the neutral placeholder, under which the
cost rule would call every N a tie; `--max-branches 3` keeps the low rate where several branches pay high enough
for a run to collect requests in minutes (the placeholder's majority of 2 ties 1, so N goes 3 -> 1).
Rates (auto, auto_rates): low where the plan still has several branches, mid and high at 45 % and 85 % of the
highest rate any plan meets the deadline at (N = 1's goodput); the deadline (auto) is DEADLINE_X x the p90 of
N = 3 alone. The first 10 % of arrivals are left out of the statistics (warm-up); measured quantiles carry 90 %
bootstrap intervals, so a miss can be told from too few requests.

Targets (bench, issue 20): p90 within 15 %, hit rate within 5 points, the chosen N falling as the rate rises.
What it measured: docs/validation.md, 'On a real engine'. Needs the serving venv (`bash .ci/vllm.sh`). One run
~17 min on the 2-core VM (replicas ~1.5 min, calibration ~2.5 min, three rates of >= 200 s each):

    python bench/load_engine.py --workdir /tmp/load-engine
    python bench/load_engine.py --rates 0.05,0.15,0.3 --deadline 24s --seconds 120 --profile DIR/ep.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_stats import analyse, print_table  # noqa: E402
from bench.loadgen import LoadRun, run_load  # noqa: E402
from planner import api  # noqa: E402
from planner.calibrate.endpoint.measure import DEFAULT_QUESTIONS  # noqa: E402
from planner.errors import PlannerError  # noqa: E402
from planner.executor.backends.fanout import FanOut  # noqa: E402
from planner.executor.backends.openai import OpenAIBackend  # noqa: E402
from planner.profile import load_profile  # noqa: E402
from planner.units import parse_duration  # noqa: E402
from tools.serving.launch import VllmServer  # noqa: E402

SERVE_FLAGS = ["--dtype", "bfloat16", "--max-model-len", "1024", "--enforce-eager"]
LOW_SHARE, MID_SHARE, HIGH_SHARE = 0.6, 0.45, 0.85   # auto rates (auto_rates)
DEADLINE_X = 1.8   # auto deadline: this x the p90 of max_branches alone (auto_deadline)


def cli(*argv: str) -> str:
    """One planner command as a user types it; a failure stops the bench with its message."""
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "planner", *argv], cwd=ROOT, capture_output=True, text=True)
    print(f"$ planner {' '.join(argv)}   # {time.monotonic() - t:.0f} s, exit {r.returncode}", flush=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: step failed: {r.stderr.strip()[-800:]}")
    return r.stdout


def start_replicas(model: Path, count: int, work: Path, pin_all: bool = True) -> list[VllmServer]:
    """`count` servers started concurrently, replica i on core i mod cores (the whole server with pin_all)."""
    cores = os.cpu_count() or 1
    servers = [VllmServer(["vllm", "serve", str(model), *SERVE_FLAGS], workdir=work / f"replica{i}",
                          cpus=str(i % cores), pin_all=pin_all, startup_timeout_s=900) for i in range(count)]
    errors: list[Exception] = []

    def up(s):
        try:
            s.start()
        except Exception as e:  # noqa: BLE001 - reported after every start attempt ended
            errors.append(e)
    threads = [threading.Thread(target=up, args=(s,)) for s in servers]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    except BaseException:   # interrupted while starting: nothing may outlive the bench
        for th in threads:
            th.join(timeout=900)
        stop_all(servers)
        raise
    if errors:
        stop_all(servers)
        raise SystemExit(f"bench: a replica did not start: {errors[0]}")
    return servers


def stop_all(servers: list[VllmServer]) -> None:
    """Stop every replica by its PID and say whether any process of theirs is left."""
    pids = [s.pid for s in servers if s.pid]
    for s in servers:
        s.stop()
    left = [p for p in pids if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    print(f"# replicas stopped (pids {pids}); still running: {left or 'none'}", flush=True)


def auto_deadline(profile: str, replicas: int, max_branches: int) -> float:
    """DEADLINE_X x the p90 of a lone request of max_branches branches, rounded up to a second: long enough that
    several branches still pay at a rate where a run collects a few dozen requests in minutes."""
    plan = api.recommend(profile, 1e6, arrival_rate=1e-4, objective="accuracy", max_branches=max_branches,
                         gpus=replicas)
    d = float(np.ceil(DEADLINE_X * plan.predicted["latency_s"]["p90"]))
    print(f"# deadline {d:g} s: {DEADLINE_X} x the p90 of N = {plan.branches} alone", flush=True)
    return d


def auto_rates(profile: str, deadline: float, replicas: int, max_branches: int) -> list[float]:
    """Total rates from the plans' goodputs: climb from a lone request, each step at the larger of 1.05 x the
    goodput of the plan chosen at the last and 1.1 x the last rate, until N = 1 is chosen. low = LOW_SHARE x the
    goodput of the last plan with N > 1 (a rate where several branches still pay), mid and high = MID_SHARE and
    HIGH_SHARE x N = 1's goodput (the highest rate any plan meets the deadline at)."""
    rate, ladder = 1e-4, []
    for _ in range(12):
        plan = api.recommend(profile, deadline, arrival_rate=rate, objective="accuracy", gpus=replicas,
                             max_branches=max_branches)
        ladder.append((rate, plan.branches, float(plan.predicted["load"]["goodput_rps"])))
        if plan.branches == 1:
            break
        rate = max(1.05 * ladder[-1][2], 1.1 * rate)
    print("# plans: " + ", ".join(f"{r:.3g}/s -> N = {n} (goodput {g:.3g}/s)" for r, n, g in ladder), flush=True)
    top = ladder[-1][2]
    multi = [g for _, n, g in ladder if n > 1]
    low = LOW_SHARE * multi[-1] if multi else 0.25 * top
    return [low, max(MID_SHARE * top, 1.5 * low), HIGH_SHARE * top]


def backends_for(plan: dict, urls: list[str], timeout_s: float) -> list[OpenAIBackend]:
    """One client per replica the plan uses, sampling as the plan says; no log-probs (a majority vote needs none,
    and asking for them costs the server time the calibration did not see)."""
    s = plan["sampling"]
    served = plan["model"].get("served_model") or plan["model"]["hf_id"]
    return [OpenAIBackend(u + "/v1", served, temperature=s["temperature"], top_p=s.get("top_p", 1.0),
                          max_tokens=s["max_tokens"], logprobs=False, timeout_s=timeout_s) for u in urls]


def row(rate: float, plan: dict, run: LoadRun) -> dict:
    """The measured run next to the plan's figures (bench/load_stats.py adds the band and the replay)."""
    p = plan["predicted"]
    sim = p["load"].get("simulated") or {"stderr": {}}
    return {"rate": rate, "deadline": run.deadline_s, "replicas": plan["layout"]["replicas"], "N": plan["branches"],
            "K": plan["speculative"]["num_speculative_tokens"], "sent": len(run.outcomes),
            "answered": run.answered, "failed": run.failed, "scored": len(run.scored()),
            "p50_model": p["latency_s"]["p50"], "p50": run.quantile(0.5), "p90_model": p["latency_s"]["p90"],
            "p90_se": sim["stderr"].get("p90"), "p90": run.quantile(0.9), "hit_model": p["p_meet_deadline"],
            "hit": run.hit_rate(), "capacity": p["load"]["capacity_rps"], "goodput": p["load"]["goodput_rps"],
            "lag_s": run.max_lag_s(), "duration_s": run.duration_s,
            "server_queue_s": [t.queue_sum_s for t in run.servers],
            "load_average": open("/proc/loadavg").read().split()[:3],
            "requests": [{"replica": o.replica, "due_s": o.due_s, "latency_s": o.latency_s, "tokens": o.tokens,
                          "branch_tokens": o.branch_tokens, "error": o.error} for o in run.outcomes]}


def split_phase(ep: str, urls: list[str], n: int, repeats: int) -> list[dict]:
    """A lone request's N branches split over the replicas (issue 20, item 2 on the real engine), sent `repeats`
    times one after another through the executor's fan-out (planner/executor/backends/fanout.py), then the same
    N on one replica: `predict --gpus D --tp 1` (planner/model/replicas.py) and `predict` vs the measured mean and
    max latency."""
    from planner.executor.deadline import Deadline

    out, D = [], len(urls)
    plan = api.recommend(ep, 1e6, objective="accuracy", max_branches=n).to_dict()   # sampling, served model
    s = plan["sampling"]
    served = plan["model"].get("served_model") or plan["model"]["hf_id"]
    kw = dict(temperature=s["temperature"], top_p=s.get("top_p", 1.0), max_tokens=s["max_tokens"],
              logprobs=False, timeout_s=600.0)
    for label, backend, pred in (
            (f"split over {D}", FanOut([u + "/v1" for u in urls], served, mode="n", **kw),
             api.predict(ep, n, 0, gpus=D, tp=1)),
            ("one replica", OpenAIBackend(urls[0] + "/v1", served, **kw), api.predict(ep, n, 0))):
        lat = []
        for i in range(repeats):
            res = backend.generate(DEFAULT_QUESTIONS[i % len(DEFAULT_QUESTIONS)], n, Deadline(None))
            lat.append(res.latency_s)
        p = pred.latency_s
        out.append({"routing": label, "N": n, "mean_model": p["mean"], "p90_model": p["p90"],
                    "mean": float(np.mean(lat)), "max": float(np.max(lat)), "latencies": lat})
        print(f"# {label}: N = {n}, {repeats} lone requests: mean {np.mean(lat):.2f} s (model {p['mean']:.2f}), "
              f"max {np.max(lat):.2f} s (model p90 {p['p90']:.2f})", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2",
                    help="tiny: the random 4-layer Llama of the tests (~5x faster, lengths say nothing)")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--deadline", default="auto", help="per request, at p90; auto: DEADLINE_X x the p90 of "
                    "--max-branches alone on the calibrated profile (so that a lone request gets several branches)")
    ap.add_argument("--max-branches", type=int, default=3, help="largest N the plans may take")
    ap.add_argument("--split-branches", type=int, default=4, help="N of the split phase (lone requests)")
    ap.add_argument("--split-repeats", type=int, default=5, help="lone requests per routing; 0 skips the phase")
    ap.add_argument("--rates", default="auto", help="total Poisson rates (requests/s over all replicas), or auto")
    ap.add_argument("--seconds", type=float, default=200.0, help="arrival window per rate")
    ap.add_argument("--min-requests", type=int, default=16, help="at least this many requests per rate")
    ap.add_argument("--threads-only", action="store_true",
                    help="bind only each replica's model threads to its core, not the whole server")
    ap.add_argument("--profile", default=None, help="skip calibration: a profile calibrated on these replicas")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # `kill` stops the replicas too (the finally below)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="load-engine-"))
    from tools.serving.local_models import make_smollm2, make_tiny_llama

    model = make_smollm2(work / "smollm2-135m") if a.model == "smollm2" else make_tiny_llama(work / "tiny-llama")
    t_start = time.monotonic()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; load average "
          f"{open('/proc/loadavg').read().split()[:3]}; {a.replicas} replicas of {model.name}", flush=True)
    servers = start_replicas(model, a.replicas, work, pin_all=not a.threads_only)
    rows: list[dict] = []
    split: list[dict] = []
    try:
        urls = [s.base_url for s in servers]
        print(f"# replicas up in {max(s.startup_s for s in servers):.0f} s: {urls}", flush=True)
        ep = a.profile or str(work / "ep.json")
        if not a.profile:
            cli("calibrate", "--endpoint", urls[0], "--quick", "-o", ep)
        split = split_phase(ep, urls, a.split_branches, a.split_repeats) if a.split_repeats > 0 else []
        deadline = auto_deadline(ep, a.replicas, a.max_branches) if a.deadline == "auto" else \
            parse_duration(a.deadline)
        if a.rates == "auto":
            rates = auto_rates(ep, deadline, a.replicas, a.max_branches)
            print(f"# rates {', '.join(f'{r:.3g}' for r in rates)}/s over up to {a.replicas} replicas", flush=True)
        else:
            rates = [float(r) for r in a.rates.split(",")]
        for i, rate in enumerate(rates):
            try:
                plan = json.loads(cli("recommend", "--profile", ep, "--deadline", f"{deadline:g}s", "--arrival-rate",
                                      f"{rate:.6g}", "--gpus", str(a.replicas), "--max-branches",
                                      str(a.max_branches), "--objective", "accuracy", "--json"))
            except SystemExit as e:
                print(f"#   no plan at {rate:.3g}/s: {e}", flush=True)
                continue
            D = plan["layout"]["replicas"]
            try:   # the profile's served model must be what these replicas serve (a --profile from another run)
                FanOut([u + "/v1" for u in urls[:D]], plan["model"].get("served_model") or plan["model"]["hf_id"],
                       probe_timeout_s=15.0).check()
            except PlannerError as e:
                raise SystemExit(f"bench: {e}")
            count = max(a.min_requests, int(round(rate * a.seconds)))
            timeout = max(3 * deadline, 4 * plan["predicted"]["latency_s"]["p90"])
            print(f"# rate {rate:.3g}/s: N = {plan['branches']} on {D} replica(s), {count} requests, call timeout "
                  f"{timeout:.0f} s", flush=True)
            run = run_load(backends_for(plan, urls[:D], timeout), DEFAULT_QUESTIONS, plan["branches"], rate, count,
                           deadline, seed=a.seed + i, metrics_urls=urls[:D])
            rows.append(row(rate, plan, run))
            print(f"#   done in {run.duration_s:.0f} s; load average {rows[-1]['load_average']}", flush=True)
            if run.failed:
                print(f"#   {run.failed} failed: {next(o.error for o in run.outcomes if o.error)}", flush=True)
    except PlannerError as e:
        print(f"bench: {e}", flush=True)
        return 1
    finally:
        stop_all(servers)
    (work / "load_engine.json").write_text(json.dumps({"split": split, "rates": rows}, indent=1))
    print_table([analyse(load_profile(ep), r, r["deadline"]) for r in rows])
    print(f"\n# {len(rows)} rates in {time.monotonic() - t_start:.0f} s; end "
          f"{time.strftime('%H:%M:%S', time.gmtime())} UTC; load average {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
