"""Fidelity of the planner's latency model on a real serving engine (vLLM CPU build), and the project's own
executor next to it.

1. Start vLLM with ngram speculation at the largest K asked for, calibrate against it on the *training*
   branch counts (default 1, 2, 8, 32, 64: calibrate up to the largest B you will run), then measure
   full-request latency (n = B, fixed T output tokens) at held-out branch counts (default 4, 16, 48) and
   print predicted vs measured with % errors.
2. Restart vLLM at every other draft length K (held out: 0 = no speculation) and do the same at all B.
3. Run the local executor (this project's engine) on the same model, prompt, B, K and T, and print tokens/s
   side by side with vLLM.

Needs the serving venv (`bash .ci/vllm.sh`). Predictions use planner.model.latency exactly as `planner
predict` does, with a constant length T (the requests use ignore_eos). Target: median |error| <= 10 %.

    python bench/engine_fidelity.py                      # tiny random Llama: ~10 min on an idle 2-core box
    python bench/engine_fidelity.py --model smollm2 --ks 0,3 --test-b 4,16 --tokens 48
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.model.latency import latency_grid  # noqa: E402
from planner.profile.schema import Profile  # noqa: E402
from planner.calibrate.endpoint.measure import calibrate_endpoint  # noqa: E402
from planner.http import Endpoint  # noqa: E402
from tools.serving.launch import VllmServer  # noqa: E402
from planner.calibrate.endpoint.metrics import SpecCounters, parse_prometheus  # noqa: E402
from planner.calibrate.endpoint.probe import probe  # noqa: E402
from planner.calibrate.endpoint.sweeps import decode_point, filler_prompt  # noqa: E402

PROMPT_WORDS = 40


def ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def model_dir(name: str, cache: Path) -> Path:
    from tools.serving.local_models import make_smollm2, make_tiny_llama

    if name == "tiny":
        return make_tiny_llama(cache / "tiny-llama")
    if name == "smollm2":
        return make_smollm2(cache / "smollm2-135m")
    return Path(name)


def server_args(model: Path, k: int) -> list[str]:
    args = ["vllm", "serve", str(model), "--served-model-name", "bench", "--dtype", "bfloat16",
            "--max-model-len", "2048", "--enforce-eager"]
    if k > 0:
        args += ["--speculative-config", json.dumps({"method": "ngram", "num_speculative_tokens": k,
                                                     "prompt_lookup_max": 4, "prompt_lookup_min": 1})]
    return args


def measure(url: str, B: int, T: int, reps: int) -> dict:
    """Fastest of `reps` requests with n = B, T tokens per branch (the machine is shared: the minimum is the
    least disturbed), plus the spec counters they moved."""
    ep = Endpoint(url, timeout_s=600)
    walls, usage = [], {}
    spec0 = SpecCounters.from_samples(parse_prometheus(ep.get_text("/metrics")))
    for _ in range(reps):  # no per-request seed: seeded requests crash vLLM CPU when a prefill is chunked
        body = {"model": "bench", "prompt": filler_prompt(PROMPT_WORDS, 7), "n": B, "max_tokens": T,
                "temperature": 0.8, "ignore_eos": True}
        t = time.monotonic()
        usage = ep.post_json("/v1/completions", body)["usage"]
        walls.append(time.monotonic() - t)
    spec1 = SpecCounters.from_samples(parse_prometheus(ep.get_text("/metrics")))
    d = (spec1 - spec0) if spec0 and spec1 else None
    steps = max(1.0, ((T - 1) * B * reps - (d.accepted if d else 0)) / (B * reps))
    return {"wall_s": min(walls), "prompt_tokens": usage["prompt_tokens"],
            "tokens": usage["completion_tokens"], "tau": (T - 1) / steps,
            "draft_rate": (d.drafts / (steps * B * reps)) if d else 0.0}


def predict(profile: dict, B: int, K: int, T: int, prompt_tokens: int) -> float:
    p = copy.deepcopy(profile)
    p["lengths"] = {"kind": "lognormal", "median_tokens": T, "sigma": 0.01, "min_tokens": T, "max_tokens": T}
    p["prompt_tokens"] = prompt_tokens
    if K > 0 and "acceptance" not in p:  # unmeasured (no /metrics): treat drafts as never accepted
        p["acceptance"] = {"temperature": 0.8, "alpha": [0.0]}
        p["draft"] = {"kind": "ngram", "name": "ngram"}
    return float(latency_grid(Profile.from_dict(p), [B], [K]).mean[0, 0])


def local_tokens_per_s(model: Path, B: int, K: int, T: int) -> float | None:
    """The project's executor (local backend) on the same request; None if it is not importable."""
    try:
        import torch

        from planner.executor.deadline import Deadline
        from planner.executor.setup import make_backend
    except ImportError as e:
        print(f"# local executor unavailable: {e}")
        return None
    torch.set_num_threads(1)  # vLLM's CPU worker runs the model on one core here too
    a = argparse.Namespace(backend="local", model=str(model), device="cpu", dtype="bf16")
    be, _ = make_backend(a, "ngram:4" if K else None, K, 0.8, 1.0, T, False, log=lambda m: None)
    be.generate(filler_prompt(8, 1), 1, Deadline(None))  # warm-up
    t = time.monotonic()
    res = be.generate(filler_prompt(PROMPT_WORDS, 7), B, Deadline(None))
    return sum(b.num_tokens for b in res.branches) / (time.monotonic() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny", help="tiny | smollm2 | a Hugging Face folder")
    ap.add_argument("--ks", default="0,3", help="draft lengths; the largest is calibrated, the rest held out")
    ap.add_argument("--train-b", default="1,2,8,32,64")
    ap.add_argument("--test-b", default="4,16,48")
    ap.add_argument("--tokens", type=int, default=64, help="output tokens per branch (ignore_eos)")
    ap.add_argument("--reps", type=int, default=3, help="requests per point; the fastest counts")
    ap.add_argument("--local-b", default="1,4,16", help="branch counts for the local-executor comparison")
    ap.add_argument("--no-local", action="store_true")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="engine-fidelity-"))
    model = model_dir(a.model, work / "models")
    ks, train_b, test_b, T = sorted(ints(a.ks)), ints(a.train_b), ints(a.test_b), a.tokens
    k_cal = ks[-1]
    rows, speed = [], []
    for K in [k_cal] + [k for k in ks if k != k_cal]:
        args = server_args(model, K)
        with VllmServer(args, workdir=work / f"server-k{K}", startup_timeout_s=900) as srv:
            print(f"# vLLM K={K}: up in {srv.startup_s:.0f} s", flush=True)
            if K == k_cal:
                t = time.monotonic()
                profile = calibrate_endpoint(argparse.Namespace(
                    endpoint=srv.base_url, model="bench", batches=train_b, decode_tokens=T, quick=True, decode_repeats=2,
                    launch_args=shlex.join(args), model_config=str(model / "config.json"), timeout=600))
                (work / "profile.json").write_text(json.dumps(profile, indent=1))
                c = profile["calibration"]
                print(f"# calibrated in {time.monotonic() - t:.0f} s; step fit error "
                      f"{profile['step']['target']['fit_rel_error']:.1%}; alpha "
                      f"{profile.get('acceptance', {}).get('alpha', 'unmeasured')}; phases {c['phases_s']}")
            for B in (test_b if K == k_cal else sorted(set(train_b + test_b))):
                m = measure(srv.base_url, B, T, a.reps)
                pred = predict(profile, B, K, T, m["prompt_tokens"])
                rows.append((K, B, "held-out B" if K == k_cal else "held-out K", pred, m))
                print(f"K={K} B={B:3d}: predicted {pred:7.2f} s measured {m['wall_s']:7.2f} s "
                      f"({(pred / m['wall_s'] - 1):+.0%})  tau {m['tau']:.2f} drafts/step {m['draft_rate']:.2f}",
                      flush=True)
            if K == k_cal:  # did the machine's load drift since calibration? (same request as the sweep)
                ep = Endpoint(srv.base_url, 600)
                now = decode_point(ep, probe(ep, "bench"), 1, T, filler_prompt(24, 0), 0.8, 600)["t_s"]
                then = next(d["t_s"] for d in profile["calibration"]["decode_points"] if d["B"] == 1)
                print(f"# drift: B=1 step {then * 1e3:.1f} ms at calibration, {now * 1e3:.1f} ms after the "
                      f"held-out runs ({now / then - 1:+.0%})", flush=True)
            if not a.no_local:
                for B in ints(a.local_b):
                    v = measure(srv.base_url, B, T, 1)
                    speed.append((K, B, v["tokens"] / v["wall_s"], None))
        if not a.no_local:  # server stopped: the local engine gets the cores to itself, like vLLM had
            for i, (k, B, vt, _) in enumerate(speed):
                if k == K and speed[i][3] is None:
                    speed[i] = (k, B, vt, local_tokens_per_s(model, B, K, T))

    errs = [abs(p / m["wall_s"] - 1) for _, _, _, p, m in rows]
    print(f"\n## Request latency, {a.model}, T={T} tokens/branch, predicted vs measured (vLLM {work})")
    print("| K | B | set | measured s | planner model s | error | measured tau | drafts/step |")
    print("|---|---|---|---|---|---|---|---|")
    for K, B, kind, p, m in rows:
        w = m["wall_s"]
        print(f"| {K} | {B} | {kind} | {w:.2f} | {p:.2f} | {p / w - 1:+.1%} | {m['tau']:.2f} | "
              f"{m['draft_rate']:.2f} |")
    print(f"\nmedian |error| {statistics.median(errs):.1%} (max {max(errs):.1%}); target <= 10 %, n={len(errs)}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if speed:
        print("\n## Tokens/s, same model, prompt, B, K and T (one model thread each)")
        print("| K | B | vLLM tok/s | local executor tok/s | local / vLLM |")
        print("|---|---|---|---|---|")
        for K, B, v, loc in speed:
            ratio = f"{loc / v:.2f}" if loc else "-"
            print(f"| {K} | {B} | {v:.0f} | {f'{loc:.0f}' if loc else '-'} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
