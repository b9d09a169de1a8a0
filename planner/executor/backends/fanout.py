"""The `openai` backend over several replicas: one request's N branches split over data-parallel servers.

Why: a deployment with R replicas (vLLM/SGLang `--data-parallel-size` without a router, or R separate
servers) finishes a request when its slowest replica does, so each replica gets its share of the branches
(as equal as possible, or in proportion to given weights such as a plan's layout) and all of them stream
concurrently under the request's one deadline; the vote is over every branch that arrived. A replica that
fails (refused, dies mid-stream, never answers) does not sink the request: the branches it finished count,
the rest are marked "error", and the record's `engine.replicas` says which replica failed and why. Only when
every replica fails is the problem an error, as with one server.

Library use (the load bench calls this):

    from planner.executor.backends.fanout import FanOut
    be = FanOut(["http://h1:8000/v1", "http://h2:8000/v1"], "served-model-id", mode="n", timeout_s=None)
    be.check()                                   # every member answers and serves the same model, or one line
    res = be.generate(prompt, n, Deadline(10.0)) # BackendResult: N branches, latency = the slowest replica

`partial=False` makes any failed replica an error, as one server's failure is (`planner eval`: a sample bank
must not hold branches a dead replica never generated). `log(line)` gets one line per problem that lost a
replica. Other keyword arguments are OpenAIBackend's, given to every member.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from urllib.parse import urlsplit

from planner.errors import PlannerError
from planner.executor.backends import Backend, BackendResult, BranchOutput, OnFinish
from planner.executor.backends import openai
from planner.executor.backends.openai import OpenAIBackend
from planner.executor.deadline import Deadline


def split_branches(n: int, replicas: int, weights: list[float] | None = None) -> list[int]:
    """Branches per replica, summing to n: in proportion to `weights` (default equal) by largest remainder,
    ties to the earlier replica; equal weights give shares differing by at most one."""
    if n < 0 or replicas < 1:
        raise PlannerError(f"cannot split {n} branches over {replicas} replicas")
    w = [1.0] * replicas if weights is None else [float(x) for x in weights]
    if len(w) != replicas or any(not x >= 0 for x in w) or sum(w) <= 0:
        raise PlannerError(f"replica weights must be {replicas} non-negative numbers, not all 0; got {weights}")
    exact = [n * x / sum(w) for x in w]
    shares = [int(e) for e in exact]
    by_remainder = sorted(range(replicas), key=lambda j: (-(exact[j] - shares[j]), j))
    for j in by_remainder[:n - sum(shares)]:
        shares[j] += 1
    return shares


def layout_weights(layout: dict | None, endpoints: int) -> tuple[list[int] | None, str | None]:
    """(per-replica weights, note) from a plan's `layout` (planner/model/replicas.py) for this many endpoints:
    its `branches_per_replica` when the endpoints are its replicas; a note when they cannot be."""
    if not layout or int(layout.get("replicas", 1)) <= 1:
        return None, None
    d, per = int(layout["replicas"]), layout.get("branches_per_replica")
    if layout.get("routing", "split") != "split":
        return None, (None if endpoints == 1 else
                      f"the plan's layout sends each request whole to one of {d} replicas (routing "
                      f"{layout.get('routing')}); over {endpoints} endpoints its branches are split instead, so "
                      "its latency prediction does not apply (give one router endpoint to run it as planned)")
    if endpoints == d:
        return (list(per) if isinstance(per, list) and len(per) == d and sum(per) > 0 else None), None
    if endpoints == 1:
        return None, (f"the plan splits each request's branches over {d} replicas ({per}); with one endpoint the "
                      f"server decides where they run (list the {d} replicas' URLs to split them as planned)")
    return None, (f"the plan splits each request's branches over {d} replicas; --endpoint lists {endpoints}, so "
                  "its latency prediction does not apply")


def served_ids(listing: str | None) -> list[str] | None:
    """The model ids of a /v1/models answer (None when there is no usable listing)."""
    try:
        data = json.loads(listing).get("data") if listing is not None else None
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return sorted({str(m["id"]) for m in data if isinstance(m, dict) and m.get("id") is not None})


def endpoint_key(url: str) -> str:
    """A URL in one spelling (scheme, lower-case host, explicit port, API root) to spot duplicates."""
    u = urlsplit(url if "://" in url else "http://" + url)
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        port = u.netloc
    return f"{u.scheme}://{(u.hostname or '').lower()}:{port}{u.path.rstrip('/') or '/v1'}"


def parse_endpoints(values: list[str] | str | None, default: str = "http://localhost:8000/v1") -> list[str]:
    """`--endpoint A,B` and/or repeated `--endpoint` as one list; an empty entry or a duplicate is one line."""
    if values is None:
        return [default]
    items = [part.strip() for v in ([values] if isinstance(values, str) else values) for part in str(v).split(",")]
    if not any(items):
        raise PlannerError("--endpoint/--url is empty: give the server's URL, e.g. http://localhost:8000/v1")
    if not all(items):
        raise PlannerError(f"--endpoint has an empty entry in {','.join(items)!r}: separate URLs by one comma")
    seen: dict[str, str] = {}
    for url in items:
        key = endpoint_key(url)
        if key in seen:
            raise PlannerError(f"--endpoint lists the same server twice ({seen[key]} and {url}): give each replica "
                               "once (a router or data-parallel endpoint counts once)")
        seen[key] = url
    return items


class FanOut(Backend):
    name = "openai"

    def __init__(self, endpoints: list[str], model: str, *, weights: list[float] | None = None,
                 probe_timeout_s: float | None = None, log=None, partial: bool = True, **kwargs):
        urls = parse_endpoints(list(endpoints))
        self.members = [OpenAIBackend(u, model, **kwargs) for u in urls]
        if weights is not None:
            split_branches(1, len(self.members), weights)  # checks them now, not at the first problem
        self.weights, self.probe_timeout_s, self.log, self.partial = weights, probe_timeout_s, log, partial
        first = self.members[0]  # what planner.workload's /tokenize count reads (every member serves one model)
        self.scheme, self.host, self.port, self.model = first.scheme, first.host, first.port, first.model
        self.chat, self.system, self.mode = first.chat, first.system, first.mode
        self.served: dict[str, list[str] | None] = {}

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def check(self) -> None:
        """Probe every member at once (a total deadline of probe_timeout_s each): all must answer and list the
        same models, including the one requested; else one line naming the members at fault (default
        probe deadline: openai.PROBE_TIMEOUT_S)."""
        out: dict[int, object] = {}

        def probe(j: int, m: OpenAIBackend) -> None:
            try:
                out[j] = served_ids(m.check(self.probe_timeout_s))
            except PlannerError as e:
                out[j] = e
        threads = [threading.Thread(target=probe, args=(j, m), daemon=True) for j, m in enumerate(self.members)]
        for t in threads:
            t.start()
        for t in threads:
            t.join((self.probe_timeout_s or openai.PROBE_TIMEOUT_S) + 5.0)
        dead = [f"{m.url} ({str(out.get(j, 'no answer')).split(' is not answering: ')[-1]})"
                for j, m in enumerate(self.members) if j not in out or isinstance(out[j], PlannerError)]
        if dead:
            raise PlannerError(f"{len(dead)} of {len(self.members)} replicas not answering: {'; '.join(dead)}: "
                               "start them or leave them out of --endpoint")
        self.served = {m.url: out[j] for j, m in enumerate(self.members)}
        listed = {u: ids for u, ids in self.served.items() if ids is not None}
        if len({tuple(ids) for ids in listed.values()}) > 1:
            raise PlannerError("the replicas serve different models (" + "; ".join(
                f"{u} serves {', '.join(ids) or 'nothing'}" for u, ids in listed.items())
                + "): every replica must serve the same one")
        ids = next(iter(listed.values()), None)
        if ids is not None and self.model not in ids:
            raise PlannerError(f"model {self.model!r} is not served by the replicas (they serve "
                               f"{', '.join(ids) or 'nothing'}): pass --server-model with one of those")

    def describe(self) -> dict:
        d = {k: v for k, v in self.members[0].describe().items() if k != "url"}
        return d | {"urls": self.urls, "weights": self.weights}

    def generate(self, prompt: str, n: int, deadline: Deadline, on_finish: OnFinish | None = None,
                 seed: int = 0) -> BackendResult:
        shares = split_branches(n, len(self.members), self.weights)
        starts = [sum(shares[:j]) for j in range(len(shares))]
        lock, stop = threading.Lock(), threading.Event()
        outcome: dict[int, tuple[BackendResult | None, str | None]] = {}

        def relay(b: BranchOutput, base: int) -> bool:
            with lock:  # the vote sees one branch at a time, whichever replica it came from
                if stop.is_set():
                    return True
                if on_finish is not None and on_finish(replace(b, index=base + b.index)):
                    stop.set()
                    return True
            return False

        def work(j: int) -> None:
            try:
                outcome[j] = self.members[j].generate_partial(
                    prompt, shares[j], deadline, lambda b, base=starts[j]: relay(b, base), seed + starts[j], stop)
            except Exception as e:  # noqa: BLE001 - a replica must always report, whatever went wrong
                outcome[j] = (None, f"server {self.members[j].url}: {type(e).__name__}: {e}")
        active = [j for j in range(len(shares)) if shares[j] > 0]
        threads = [threading.Thread(target=work, args=(j,), daemon=True) for j in active]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self._merge(n, shares, starts, active, outcome, deadline, stop.is_set())

    def _merge(self, n, shares, starts, active, outcome, deadline: Deadline, decided: bool) -> BackendResult:
        """One BackendResult from the replicas' (global branch indices, summed usage, the slowest latency)."""
        branches: list[BranchOutput] = []
        replicas, failed, usage, latency = [], [], {"prompt_tokens": 0, "completion_tokens": 0}, 0.0
        deadline_cut = False
        for j in active:
            res, err = outcome[j]
            if res is None:
                res = BackendResult([BranchOutput(i, None, 0, "error", deadline.elapsed()) for i in range(shares[j])],
                                    deadline.elapsed())
            branches += [replace(b, index=starts[j] + b.index) for b in res.branches]
            latency = max(latency, res.latency_s)
            deadline_cut |= res.stopped_by == "deadline"
            for k, v in (res.info.get("usage") or {}).items():
                usage[k] = usage.get(k, 0) + int(v)
            done = sum(b.completed for b in res.branches)
            replicas.append({"url": self.members[j].url, "branches": [starts[j], starts[j] + shares[j]],
                             "finished": done, "latency_s": round(res.latency_s, 4), "stopped_by": res.stopped_by,
                             "error": err})
            if err:
                failed.append(err)
        finished = sum(b.completed for b in branches)
        if failed and (not self.partial or (len(failed) == len(active) and not finished)):
            raise PlannerError(failed[0] if len(failed) == 1 else
                               f"{len(failed)} of {len(active)} replicas failed: " + "; ".join(failed))
        if failed and self.log is not None:
            self.log(f"{len(failed)} of {len(active)} replicas failed ({'; '.join(failed)}); the vote uses the "
                     f"{finished} of {n} branches that finished")
        info = {"requests": sum(outcome[j][0].info.get("requests", 0) for j in active if outcome[j][0] is not None),
                "split": shares, "replicas": replicas}
        if any(usage.values()):
            info["usage"] = usage
        stopped = "callback" if decided else "deadline" if deadline_cut else None
        return BackendResult(sorted(branches, key=lambda b: b.index), latency, None, stopped, info=info)
