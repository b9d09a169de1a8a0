"""The `openai` backend: N branches from any OpenAI-compatible server (vLLM, SGLang, ...), stdlib only.

Why streaming: a branch that finishes before the deadline must count even if others are still running, and
at the deadline (or when the vote is decided) the rest must be cancelled. Each request is streamed (SSE) on
its own thread over `http.client` with a socket timeout on every call; the main thread collects finished
branches and, to cancel, shuts the sockets down so the server sees the client go away and stops generating.
Two request shapes: one request with `n` choices (mode "n", what the exported server configs expect) or N
requests with n=1 (mode "parallel", for servers without `n`; gives exact per-branch token counts).

Network policy (planner.http, docs/cli.md "Timeouts"): each request has a total deadline (connect to last
byte, enforced by a watchdog however the server paces its bytes): `timeout_s` if given, else the problem's
deadline + GRACE_S, else GENERATION_TIMEOUT_S. Generation requests are never retried (not idempotent). A
request that fails, breaks off before [DONE], sends garbage or times out is an error naming the URL, and so
is a server that sent no response at all by the deadline: never a silent `answer: None`.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

from planner.errors import PlannerError
from planner.http import PROBE_TIMEOUT_S, CallDeadline, check_timeout, reason
from planner.executor.backends import Backend, BackendResult, BranchOutput, OnFinish
from planner.executor.deadline import Deadline

_REASONS = {"stop": "eos", "length": "length", "eos": "eos", "abort": "cancelled"}
GENERATION_TIMEOUT_S = 600.0   # a request's total deadline when neither --request-timeout nor a deadline says
GRACE_S = 2.0                  # beyond the problem's deadline (the executor cuts at the deadline itself)


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, base_url: str, model: str, mode: str = "n", temperature: float = 0.7, top_p: float = 1.0,
                 max_tokens: int = 1024, stop: list[str] | None = None, api_key: str | None = None,
                 timeout_s: float | None = None, chat: bool = True, system: str | None = None, max_parallel: int = 64,
                 logprobs: bool = False, send_seed: bool = False):
        if mode not in ("n", "parallel"):
            raise PlannerError(f"openai mode must be n or parallel, got {mode!r}")
        u = urlsplit(base_url if "://" in base_url else "http://" + base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise PlannerError(f"bad server URL {base_url!r}: use e.g. http://localhost:8000/v1")
        try:
            port = u.port
        except ValueError:
            raise PlannerError(f"bad server URL {base_url!r}: the port is not a number in 1..65535") from None
        self.scheme, self.host, self.port = u.scheme, u.hostname, port
        self.root = u.path.rstrip("/") or "/v1"
        self.path = self.root + ("/chat/completions" if chat else "/completions")
        self.model, self.mode, self.chat, self.system = model, mode, chat, system
        self.temperature, self.top_p, self.max_tokens, self.stop = temperature, top_p, max_tokens, list(stop or [])
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = None if timeout_s is None else check_timeout(timeout_s, "--request-timeout")
        self.max_parallel = int(max_parallel)
        self.logprobs = logprobs  # ask for token log-probs (confidence scorer; also gives exact token counts)
        self.send_seed = send_seed  # opt-in: seeded requests crash vLLM's CPU build when prefill is chunked

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{f':{self.port}' if self.port else ''}{self.path}"

    def check(self, timeout_s: float | None = None) -> str | None:
        """A quick liveness probe before any work (GET .../models under a total deadline of `timeout_s`, default
        PROBE_TIMEOUT_S, retried within it): any HTTP answer will do; refused, unresolvable or silent is one
        error naming the URL. Returns the /models listing's text (None on an HTTP error: some servers have none)."""
        from planner.http import Endpoint, HttpError

        base = f"{self.scheme}://{self.host}{f':{self.port}' if self.port else ''}"
        try:
            return Endpoint(base, timeout_s or PROBE_TIMEOUT_S, "--request-timeout").get_text(self.root + "/models")
        except HttpError:
            return None  # it answered: alive
        except PlannerError as e:
            raise PlannerError(f"server {self.url} is not answering: {e}") from None

    def describe(self) -> dict:
        return {"backend": self.name, "url": self.url,
                "model": self.model, "mode": self.mode, "temperature": self.temperature, "max_tokens": self.max_tokens}

    # -- one streamed request ---------------------------------------------------------------------------
    def _body(self, prompt: str, n: int, seed: int) -> bytes:
        body = {"model": self.model, "n": n, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "stream": True, "stream_options": {"include_usage": True}}
        if self.send_seed:
            body["seed"] = seed
        if self.stop:
            body["stop"] = self.stop
        if self.logprobs:
            body["logprobs"] = True if self.chat else 1
        if self.chat:
            body["messages"] = ([{"role": "system", "content": self.system}] if self.system else []) + [
                {"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        return json.dumps(body).encode()

    def _connect(self, timeout: float):
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout)

    def _stream(self, conn, body: bytes, base: int, events: queue.Queue, t0: float, socks: list,
                cancel: threading.Event, call: CallDeadline) -> None:
        """Send one request; put ("head", ...) once the server answers 200, ("done", BranchOutput) per finished
        choice, then ("end", usage, error). The raw socket goes into `socks` (http.client drops conn.sock once
        a response owns it) for cancelling; `call`'s watchdog shuts it when the request's deadline passes."""
        texts: dict[int, list[str]] = {}
        chunks: dict[int, int] = {}
        lps: dict[int, list[float]] = {}
        started = False  # the server answered (errors after this are a broken stream, not an unreachable server)
        try:
            headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            if cancel.is_set():
                return
            conn.connect()
            sock = conn.sock
            socks.append(sock)
            call.arm(sock)
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                detail = resp.read(2000).decode("utf-8", "replace").strip().splitlines()
                events.put(("end", base, None, f"HTTP {resp.status} from server: {detail[0][:300] if detail else ''}"))
                return
            started = True
            events.put(("head", base, None, None))
            usage, finished = None, False
            while True:
                sock.settimeout(max(0.01, call.remaining()))
                raw = resp.readline(1 << 20)
                if not raw or cancel.is_set():
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                try:
                    msg = json.loads(data)
                    if not isinstance(msg, dict):
                        raise ValueError("not a JSON object")
                    if "error" in msg:
                        err = msg["error"]
                        events.put(("end", base, None, "server error mid-stream: "
                                    f"{(err.get('message') if isinstance(err, dict) else err)!s:.300}"))
                        return
                    usage = msg.get("usage") or usage
                    self._chunk(msg, base, texts, chunks, lps, events, t0)
                except (ValueError, TypeError, AttributeError, KeyError) as e:
                    events.put(("end", base, None, f"bad stream chunk ({e}): {data[:80]!r}"))
                    return
            if cancel.is_set():
                return
            if call.expired:
                events.put(("end", base, None, self._late(call)))
            elif not finished:
                events.put(("end", base, None, "the stream ended before [DONE]; did the server die?"))
            else:
                events.put(("end", base, usage, None))
        except Exception as e:  # noqa: BLE001 - a thread must always report, or the caller would wait forever
            if cancel.is_set():
                return
            if call.expired or isinstance(e, (socket.timeout, TimeoutError)):
                events.put(("end", base, None, self._late(call)))
            elif isinstance(e, OSError) and not started and not isinstance(e, http.client.HTTPException):
                events.put(("end", base, None, f"cannot reach it ({reason(e)})"))
            elif isinstance(e, (ConnectionError, http.client.HTTPException)):
                events.put(("end", base, None, f"the connection broke ({reason(e)}); did the server die?"))
            else:
                events.put(("end", base, None, f"{type(e).__name__}: {e}"))
        finally:
            call.cancel()
            conn.close()

    def _late(self, call: CallDeadline) -> str:
        return (f"no complete answer within {call.seconds:g} s (--request-timeout; the server accepted the "
                "request but did not finish it)")

    def _chunk(self, msg: dict, base: int, texts, chunks, lps, events: queue.Queue, t0: float) -> None:
        for ch in msg.get("choices") or []:
            i = int(ch.get("index", 0))
            piece = (ch.get("delta") or {}).get("content") if self.chat else ch.get("text")
            if piece:
                texts.setdefault(i, []).append(str(piece))
                chunks[i] = chunks.get(i, 0) + 1
            lp = ch.get("logprobs") or {}
            vals = [t.get("logprob") for t in lp.get("content") or []] if self.chat \
                else list(lp.get("token_logprobs") or [])
            lps.setdefault(i, []).extend(v for v in vals if isinstance(v, (int, float)))
            if ch.get("finish_reason"):
                why = _REASONS.get(ch["finish_reason"], "eos")
                if ch["finish_reason"] == "stop" and isinstance(ch.get("stop_reason"), str):
                    why = "stop"  # vLLM: a stop string (an int stop_reason is a stop token)
                got = lps.get(i)
                events.put(("done", base + i, BranchOutput(
                    base + i, "".join(texts.get(i, [])), len(got) if got else chunks.get(i, 0), why,
                    time.perf_counter() - t0, sum(got) if got else None, exact_tokens=bool(got)), None))

    # -- N branches -------------------------------------------------------------------------------------
    def request_timeout(self, deadline: Deadline) -> float:
        """A request's total deadline: --request-timeout, else the problem's deadline + GRACE_S, else 600 s."""
        if self.timeout_s is not None:
            return self.timeout_s
        left = deadline.remaining()
        return GENERATION_TIMEOUT_S if left is None else max(0.5, left + GRACE_S)

    def generate(self, prompt: str, n: int, deadline: Deadline, on_finish: OnFinish | None = None,
                 seed: int = 0) -> BackendResult:
        res, error = self.generate_partial(prompt, n, deadline, on_finish, seed)
        if error:
            raise PlannerError(error)
        return res

    def generate_partial(self, prompt: str, n: int, deadline: Deadline, on_finish: OnFinish | None = None,
                         seed: int = 0, stop: threading.Event | None = None) -> tuple[BackendResult, str | None]:
        """`generate` that keeps what finished when the server fails: (result, error line or None); the
        branches the failure lost are marked "error". `stop` set by another thread ends the request early
        (stopped_by "callback"), as a decided vote does: the fan-out over replicas uses both."""
        t0 = deadline.start
        timeout = self.request_timeout(deadline)
        plan = [(0, n)] if self.mode == "n" else [(i, 1) for i in range(n)]
        events: queue.Queue = queue.Queue()
        socks, threads, pending, cancel = [], [], list(plan), threading.Event()
        result: dict[int, BranchOutput] = {}
        open_requests, stopped_by, error, answered = 0, None, None, False
        usage_tokens: dict[int, int] = {}
        usage = {"prompt_tokens": 0, "completion_tokens": 0}

        def launch():
            nonlocal open_requests
            while pending and open_requests < self.max_parallel:
                base, k = pending.pop(0)
                th = threading.Thread(target=self._stream, args=(
                    self._connect(timeout), self._body(prompt, k, seed + base), base, events, t0, socks, cancel,
                    CallDeadline(timeout)), daemon=True)
                th.start()
                threads.append(th)
                open_requests += 1

        launch()
        while open_requests:
            left = deadline.remaining()
            if left is not None and left <= 0:
                stopped_by = "deadline"
                break
            if stop is not None and stop.is_set():
                stopped_by = "callback"
                break
            try:
                kind, idx, payload, err = events.get(timeout=0.05 if left is None else max(0.001, min(left, 0.05)))
            except queue.Empty:
                continue
            if kind == "head":
                answered = True
            elif kind == "done":
                result[idx] = payload
                if on_finish and on_finish(payload):
                    stopped_by = "callback"
                    break
            else:
                open_requests -= 1
                if err and len(result) < n:  # an error after every branch finished loses nothing
                    error = err
                    break
                for key in usage if isinstance(payload, dict) else ():
                    usage[key] += int(payload.get(key) or 0)
                if payload and len(plan) == n and idx in result:  # one branch per request: its usage is exact
                    usage_tokens[idx] = int(payload.get("completion_tokens") or 0)
                launch()
        cancel.set()
        for sock in list(socks):  # cancel whatever is still streaming (the server sees the disconnect)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if error:
            error = f"server {self.url}: {error}"
        elif stopped_by == "deadline" and not answered and not result:
            error = (f"server {self.url} sent no response within the {deadline.seconds:g} s deadline "
                     "(it accepted the connection): is it hung or overloaded?")
        now = deadline.elapsed()
        cut = "error" if error else "deadline" if stopped_by == "deadline" else "cancelled"
        branches = []
        for i in range(n):
            b = result.get(i) or BranchOutput(i, None, 0, cut, now)
            if i in usage_tokens and usage_tokens[i] > 0:
                b.num_tokens, b.exact_tokens = usage_tokens[i], True
            branches.append(b)
        info = {"requests": len(plan)} | ({"usage": usage} if any(usage.values()) else {})
        return BackendResult(branches, now, None, stopped_by, info=info), error
