"""Plans under load on a real engine (issue 20, item 4): two vLLM CPU replicas serving SmolLM2-135M-Instruct,
calibrated through their API, then for three Poisson rates the plan `planner recommend --arrival-rate` picks,
driven by an open-loop generator (bench/loadgen.py), predicted vs measured p50/p90 latency and hit rate.

    planner calibrate --endpoint URL0 --quick -o ep.json                   # one replica: the layout is symmetric
    planner recommend --profile ep.json --deadline D --arrival-rate R/2 --objective accuracy --json
    ... then R requests/s (Poisson) round-robin over both replicas, each request n = the plan's N

The profile describes one replica, so the model is asked at the per-replica rate R/D (round-robin gives each
replica every D-th arrival). Each replica runs wholly on its own core (`taskset -c i`, its model threads bound
there too), so that it runs the same whether its neighbour, idle during the calibration, is busy or not: with
only the model threads bound (--threads-only) a replica's front end and engine core (which spin-waits on its
worker while serving) float onto the other replica's core. Pinned, a replica was slower alone in the one
comparison made (n = 1: 10.8 s against 7.5 s); its calibration sees that. This generator floats. No
speculative config: ngram drafts gained nothing on free text on this build (32.5 vs 32.9 tokens/s in the serving
research notes), so K = 0 and the plan's choice is N. `--objective accuracy`: an
endpoint profile's accuracy is the neutral placeholder, under which the cost rule would call every N a tie.
Rates (auto, auto_rates): low where the plan still has several branches, mid and high at 45 % and 85 % of the
highest per-replica rate any plan meets the deadline at (N = 1's goodput). The first 10 % of arrivals are left
out of the statistics (warm-up), and each rate sends at least --min-requests requests: the low rate's run is the
longest (a request of N = 3 takes ~20 s on the loaded VM).

Targets (bench, issue 20): p90 within 15 %, hit rate within 5 points, the chosen N falling as the rate rises.
What it measured, and where the load model misses: docs/validation.md, 'On a real engine' (the simulation of the
same engine model, tools/load_sim.py, is printed next to each rate). Needs the serving venv (`bash .ci/vllm.sh`). One run 11-13 min on the loaded 2-core VM:

    python bench/load_engine.py --workdir /tmp/load-engine
    python bench/load_engine.py --rates 0.1,0.3,0.5 --deadline 30s --seconds 120 --profile DIR/ep.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import LoadRun, run_load  # noqa: E402
from planner import api  # noqa: E402
from planner.calibrate.endpoint.measure import DEFAULT_QUESTIONS  # noqa: E402
from planner.errors import PlannerError  # noqa: E402
from planner.executor.backends.openai import OpenAIBackend  # noqa: E402
from planner.units import parse_duration  # noqa: E402
from tools.serving.launch import VllmServer  # noqa: E402

SERVE_FLAGS = ["--dtype", "bfloat16", "--max-model-len", "1024", "--enforce-eager"]
LOW_SHARE, MID_SHARE, HIGH_SHARE = 0.6, 0.45, 0.85   # auto rates (auto_rates)


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


def auto_deadline(profile: str) -> float:
    """1.4 x the p90 of a lone request of N = 3 branches, rounded up to a second."""
    plan = api.recommend(profile, 1e6, arrival_rate=1e-4, objective="accuracy", max_branches=3)
    d = float(np.ceil(1.4 * plan.predicted["latency_s"]["p90"]))
    print(f"# deadline {d:g} s: 1.4 x the p90 of N = {plan.branches} alone", flush=True)
    return d


def auto_rates(profile: str, deadline: float) -> list[float]:
    """Per-replica rates from the plans' goodputs: climb from a lone request, each step at 1.05 x the goodput of
    the plan chosen at the last (the rate it stops meeting the deadline), until N = 1 is chosen. low = LOW_SHARE
    x the goodput of the last plan with N > 1 (a rate where several branches still pay), mid and high =
    MID_SHARE and HIGH_SHARE x N = 1's goodput (the highest rate any plan meets the deadline at)."""
    rate, ladder = 1e-4, []
    for _ in range(12):
        plan = api.recommend(profile, deadline, arrival_rate=rate, objective="accuracy")
        ladder.append((rate, plan.branches, float(plan.predicted["load"]["goodput_rps"])))
        if plan.branches == 1:
            break
        rate = 1.05 * ladder[-1][2]
    print("# plans per replica: " + ", ".join(f"{r:.3g}/s -> N = {n} (goodput {g:.3g}/s)" for r, n, g in ladder),
          flush=True)
    top = ladder[-1][2]
    multi = [g for _, n, g in ladder if n > 1]
    low = LOW_SHARE * multi[-1] if multi else 0.25 * top
    return [low, max(MID_SHARE * top, 1.5 * low), HIGH_SHARE * top]


def backends_for(plan: dict, urls: list[str], timeout_s: float) -> list[OpenAIBackend]:
    s = plan["sampling"]
    served = plan["model"].get("served_model") or plan["model"]["hf_id"]
    return [OpenAIBackend(u + "/v1", served, temperature=s["temperature"], top_p=s.get("top_p", 1.0),
                          max_tokens=s["max_tokens"], logprobs=True, timeout_s=timeout_s) for u in urls]


def simulated(profile: str, plan: dict, rate: float) -> np.ndarray:
    """Latencies of the same plan in the discrete-event simulation of the model's engine (tools/load_sim.py), at
    the per-replica rate: what the mean field approximates, without its averaging of the crowd."""
    from planner.profile import load_profile
    from tools.load_sim import simulate

    return simulate(load_profile(profile), plan["branches"], plan["speculative"]["num_speculative_tokens"],
                    arrival_rate=rate, n_requests=600, seed=1)


def row(rate: float, replicas: int, plan: dict, run: LoadRun, sim: np.ndarray) -> dict:
    p = plan["predicted"]
    return {"p50_sim": float(np.quantile(sim, 0.5)), "p90_sim": float(np.quantile(sim, 0.9)),
            "hit_sim": float(np.mean(sim <= run.deadline_s)),"rate": rate, "per_replica": rate / replicas, "N": plan["branches"],
            "K": plan["speculative"]["num_speculative_tokens"], "sent": len(run.outcomes),
            "answered": run.answered, "failed": run.failed, "scored": len(run.scored()),
            "p50_model": p["latency_s"]["p50"], "p50": run.quantile(0.5),
            "p90_model": p["latency_s"]["p90"], "p90": run.quantile(0.9),
            "hit_model": p["p_meet_deadline"], "hit": run.hit_rate(),
            "capacity": p["load"]["capacity_rps"], "goodput": p["load"]["goodput_rps"],
            "lag_s": run.max_lag_s(), "duration_s": run.duration_s,
            "server_queue_s": [t.queue_sum_s for t in run.servers],
            "load_average": open("/proc/loadavg").read().split()[:3],
            "requests": [{"replica": o.replica, "due_s": o.due_s, "latency_s": o.latency_s, "tokens": o.tokens,
                          "error": o.error} for o in run.outcomes]}


def print_table(rows: list[dict]) -> None:
    print("\n| rate/s (per replica) | N | K | sent/answered | p50 model | p50 sim | p50 | p90 model | p90 sim | p90 "
          "| p90 error | hit % model | hit % sim | hit % | capacity/s | goodput/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        err = 100 * (r["p90_model"] - r["p90"]) / r["p90"] if np.isfinite(r["p90"]) else float("nan")
        print(f"| {r['rate']:.3g} ({r['per_replica']:.3g}) | {r['N']} | {r['K']} | {r['sent']}/{r['answered']} "
              f"| {r['p50_model']:.2f} | {r['p50_sim']:.2f} | {r['p50']:.2f} | {r['p90_model']:.2f} "
              f"| {r['p90_sim']:.2f} | {r['p90']:.2f} | {err:+.0f} % | {100 * r['hit_model']:.1f} "
              f"| {100 * r['hit_sim']:.1f} | {100 * r['hit']:.1f} | {r['capacity']:.3g} | {r['goodput']:.3g} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2",
                    help="tiny: the random 4-layer Llama of the tests (~5x faster, lengths say nothing)")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--deadline", default="auto", help="per request, at p90; auto: 1.4 x the p90 of N = 3 alone "
                    "on the calibrated profile (so that a lone request gets several branches)")
    ap.add_argument("--rates", default="auto", help="total Poisson rates (requests/s over all replicas), or auto")
    ap.add_argument("--seconds", type=float, default=80.0, help="arrival window per rate")
    ap.add_argument("--min-requests", type=int, default=10, help="at least this many requests per rate")
    ap.add_argument("--threads-only", action="store_true",
                    help="bind only each replica's model threads to its core, not the whole server")
    ap.add_argument("--profile", default=None, help="skip calibration: a profile calibrated on these replicas")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="load-engine-"))
    from tools.serving.local_models import make_smollm2, make_tiny_llama

    model = make_smollm2(work / "smollm2-135m") if a.model == "smollm2" else make_tiny_llama(work / "tiny-llama")
    t_start = time.monotonic()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC; load average "
          f"{open('/proc/loadavg').read().split()[:3]}; {a.replicas} replicas of {model.name}", flush=True)
    servers = start_replicas(model, a.replicas, work, pin_all=not a.threads_only)
    rows: list[dict] = []
    try:
        urls = [s.base_url for s in servers]
        print(f"# replicas up in {max(s.startup_s for s in servers):.0f} s: {urls}", flush=True)
        ep = a.profile or str(work / "ep.json")
        if not a.profile:
            cli("calibrate", "--endpoint", urls[0], "--quick", "-o", ep)
        deadline = auto_deadline(ep) if a.deadline == "auto" else parse_duration(a.deadline)
        if a.rates == "auto":
            rates = [r * a.replicas for r in auto_rates(ep, deadline)]
            print(f"# rates {', '.join(f'{r:.3g}' for r in rates)}/s over {a.replicas} replicas", flush=True)
        else:
            rates = [float(r) for r in a.rates.split(",")]
        for i, rate in enumerate(rates):
            try:
                plan = json.loads(cli("recommend", "--profile", ep, "--deadline", f"{deadline:g}s", "--arrival-rate",
                                      f"{rate / a.replicas:.6g}", "--objective", "accuracy", "--json"))
            except SystemExit as e:
                print(f"#   no plan at {rate:.3g}/s: {e}", flush=True)
                continue
            count = max(a.min_requests, int(round(rate * a.seconds)))
            timeout = max(3 * deadline, 4 * plan["predicted"]["latency_s"]["p90"])
            print(f"# rate {rate:.3g}/s: N = {plan['branches']}, {count} requests, call timeout {timeout:.0f} s",
                  flush=True)
            run = run_load(backends_for(plan, urls, timeout), DEFAULT_QUESTIONS, plan["branches"], rate, count,
                           deadline, seed=a.seed + i, metrics_urls=urls)
            rows.append(row(rate, a.replicas, plan, run, simulated(ep, plan, rate / a.replicas)))
            print(f"#   done in {run.duration_s:.0f} s; load average {rows[-1]['load_average']}", flush=True)
            if run.failed:
                print(f"#   {run.failed} failed: {next(o.error for o in run.outcomes if o.error)}", flush=True)
    except PlannerError as e:
        print(f"bench: {e}", flush=True)
        return 1
    finally:
        stop_all(servers)
    print_table(rows)
    print(f"\n# {len(rows)} rates in {time.monotonic() - t_start:.0f} s; end "
          f"{time.strftime('%H:%M:%S', time.gmtime())} UTC; load average {open('/proc/loadavg').read().split()[:3]}")
    (work / "load_engine.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
