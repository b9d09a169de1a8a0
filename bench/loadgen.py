"""Open-loop Poisson load on a deployment of D replicas (issue 20, item 4): the measurement side of
`planner recommend --arrival-rate R`, used by bench/load_engine.py and tests/integration/test_serving_load.py.

Why open loop: the model's load is Poisson arrivals that do not wait for earlier answers; a closed loop would
slow its own arrivals when the engine slows and hide the queueing the plan must survive. Requests are sent at
their scheduled times, each on its own thread, round-robin over the replicas as a data-parallel router does
(so one replica sees every D-th arrival: its gaps are Erlang-D, smoother than the Poisson stream of rate R/D
the per-replica model assumes: measured queueing can only be a little shorter for it). Each request is one
problem with the plan's N branches in one call (`n`, the executor's openai backend); K is whatever the
server's speculative config says. Each HTTP call has a total deadline (`call_timeout_s`); the plan's deadline
only scores a request (hit = answered within it), it does not cut it: cutting would lighten the load the other
requests see and censor the latency distribution whose p50/p90 the model predicts.

Latency = the answer's last byte minus the *scheduled* arrival, so queueing in the server and any lag of this
generator are both in it (the lag is reported). The servers' own Prometheus counters are read before and after,
for the accounting checks: every sent request is answered or failed, and the engine's per-branch e2e time never
exceeds what the client waited."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from planner.calibrate.endpoint.metrics import parse_prometheus
from planner.executor.deadline import Deadline
from planner.http import Endpoint

WARMUP_SHARE = 0.1   # the first arrivals meet an empty engine, unlike the stationary model: left out of the stats


@dataclass
class Outcome:
    """One request: which replica, when it was due, sent and answered (seconds from the run's start)."""
    index: int
    replica: int
    due_s: float
    sent_s: float = float("nan")
    end_s: float = float("nan")
    ok: bool = False
    error: str | None = None
    branches_done: int = 0
    tokens: int = 0
    branch_tokens: list = field(default_factory=list)   # per branch, for a replay of the run (bench/load_engine.py)

    @property
    def latency_s(self) -> float:
        return self.end_s - self.due_s if self.ok else float("inf")


@dataclass
class ServerTotals:
    """Deltas of one replica's counters over the run (vLLM names; None where the server has no /metrics)."""
    requests: float | None = None        # engine requests finished (vLLM counts each of the n branches)
    e2e_sum_s: float | None = None       # their summed arrival-to-finish time in the engine
    queue_sum_s: float | None = None     # their summed wait for admission
    n_sum: float | None = None           # sum of the requests' `n` parameters


@dataclass
class LoadRun:
    rate: float
    n: int
    deadline_s: float
    outcomes: list[Outcome]
    duration_s: float
    servers: list[ServerTotals] = field(default_factory=list)

    def scored(self) -> list[Outcome]:
        """The outcomes the statistics use: all but the warm-up share of arrivals."""
        return self.outcomes[int(WARMUP_SHARE * len(self.outcomes)):]

    def latencies(self) -> np.ndarray:
        return np.array([o.latency_s for o in self.scored()])

    def quantile(self, q: float) -> float:
        """Latency quantile over scored requests; a failed request counts as infinitely late."""
        lat = self.latencies()
        return float(np.quantile(lat, q, method="inverted_cdf")) if len(lat) else float("nan")

    def hit_rate(self) -> float:
        lat = self.latencies()
        return float(np.mean(lat <= self.deadline_s)) if len(lat) else float("nan")

    @property
    def answered(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(o.error is not None for o in self.outcomes)

    def max_lag_s(self) -> float:
        lags = [o.sent_s - o.due_s for o in self.outcomes if np.isfinite(o.sent_s)]
        return max(lags) if lags else float("nan")


def poisson_arrivals(rate: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` arrival times (s from 0) of a Poisson process of `rate` requests/s."""
    return np.cumsum(rng.exponential(1.0 / rate, count))


def _counters(base_url: str) -> dict | None:
    try:
        return parse_prometheus(Endpoint(base_url, 10).get_text("/metrics"))
    except Exception:  # noqa: BLE001 - a server without /metrics still serves the load
        return None


def _total(samples: dict | None, name: str) -> float | None:
    if samples is None or name not in samples:
        return None
    return sum(v for _, v in samples[name])


def _delta(before: dict | None, after: dict | None) -> ServerTotals:
    def d(name):
        a, b = _total(after, name), _total(before, name)
        return None if a is None or b is None else a - b
    return ServerTotals(requests=d("vllm:e2e_request_latency_seconds_count"),
                        e2e_sum_s=d("vllm:e2e_request_latency_seconds_sum"),
                        queue_sum_s=d("vllm:request_queue_time_seconds_sum"),
                        n_sum=d("vllm:request_params_n_sum"))


def run_load(backends: list, prompts: list[str], n: int, rate: float, count: int, deadline_s: float,
             seed: int = 0, metrics_urls: list[str] | None = None, progress=None) -> LoadRun:
    """Send `count` requests of `n` branches at Poisson rate `rate` (requests/s over all replicas), request i to
    replica i mod D, prompt i mod len(prompts); wait for every answer or failure. `backends` are OpenAIBackend-
    like objects (`generate(prompt, n, Deadline)`) whose own timeout is the per-call deadline."""
    if rate <= 0 or count < 1 or n < 1 or not backends or not prompts:
        raise ValueError("run_load needs rate > 0, count >= 1, n >= 1, a replica and a prompt")
    rng = np.random.default_rng(seed)
    due = poisson_arrivals(rate, count, rng)
    outs = [Outcome(i, i % len(backends), float(due[i])) for i in range(count)]
    before = [_counters(u) for u in metrics_urls or []]
    t0 = time.perf_counter()

    def one(o: Outcome) -> None:
        o.sent_s = time.perf_counter() - t0
        try:
            res = backends[o.replica].generate(prompts[o.index % len(prompts)], n, Deadline(None))
            o.end_s = time.perf_counter() - t0
            done = [b for b in res.branches if b.completed]
            o.branches_done, o.tokens = len(done), sum(b.num_tokens for b in res.branches)
            o.branch_tokens = [b.num_tokens for b in res.branches]
            o.ok = len(done) == n
            if not o.ok:
                o.error = f"{n - len(done)} of {n} branches unfinished"
        except Exception as e:  # noqa: BLE001 - every request must end as answered or failed
            o.end_s, o.error = time.perf_counter() - t0, f"{type(e).__name__}: {e}"
        if progress:
            progress(o)

    threads = []
    for o in outs:
        wait = o.due_s - (time.perf_counter() - t0)
        if wait > 0:
            time.sleep(wait)
        th = threading.Thread(target=one, args=(o,), daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    duration = time.perf_counter() - t0
    after = [_counters(u) for u in metrics_urls or []]
    return LoadRun(rate, n, deadline_s, outs, duration, [_delta(b, a) for b, a in zip(before, after)])
