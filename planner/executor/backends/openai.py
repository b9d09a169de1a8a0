"""The `openai` backend: N branches from any OpenAI-compatible server (vLLM, SGLang, ...), stdlib only.

Why streaming: a branch that finishes before the deadline must count even if others are still running, and
at the deadline (or when the vote is decided) the rest must be cancelled. Each request is streamed (SSE) on
its own thread over `http.client` with a socket timeout on every call; the main thread collects finished
branches and, to cancel, shuts the sockets down so the server sees the client go away and stops generating.
Two request shapes: one request with `n` choices (mode "n", what the exported server configs expect) or N
requests with n=1 (mode "parallel", for servers without `n`; gives exact per-branch token counts).
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
from planner.executor.backends import Backend, BackendResult, BranchOutput, OnFinish
from planner.executor.deadline import Deadline

_REASONS = {"stop": "eos", "length": "length", "eos": "eos", "abort": "cancelled"}


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, base_url: str, model: str, mode: str = "n", temperature: float = 0.7, top_p: float = 1.0,
                 max_tokens: int = 1024, stop: list[str] | None = None, api_key: str | None = None,
                 timeout_s: float = 600.0, chat: bool = True, system: str | None = None, max_parallel: int = 64,
                 logprobs: bool = False, send_seed: bool = False):
        if mode not in ("n", "parallel"):
            raise PlannerError(f"openai mode must be n or parallel, got {mode!r}")
        u = urlsplit(base_url if "://" in base_url else "http://" + base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise PlannerError(f"bad server URL {base_url!r}: use e.g. http://localhost:8000/v1")
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port
        self.path = (u.path.rstrip("/") or "/v1") + ("/chat/completions" if chat else "/completions")
        self.model, self.mode, self.chat, self.system = model, mode, chat, system
        self.temperature, self.top_p, self.max_tokens, self.stop = temperature, top_p, max_tokens, list(stop or [])
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s, self.max_parallel = float(timeout_s), int(max_parallel)
        self.logprobs = logprobs  # ask for token log-probs (confidence scorer; also gives exact token counts)
        self.send_seed = send_seed  # opt-in: seeded requests crash vLLM's CPU build when prefill is chunked

    def describe(self) -> dict:
        return {"backend": self.name, "url": f"{self.scheme}://{self.host}:{self.port or ''}{self.path}",
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
                cancel: threading.Event) -> None:
        """Send one request; put ("done", BranchOutput) per finished choice, then ("end", usage | error).
        The raw socket goes into `socks` (http.client drops conn.sock once a response owns it) for cancelling."""
        texts: dict[int, list[str]] = {}
        chunks: dict[int, int] = {}
        lps: dict[int, list[float]] = {}
        try:
            headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            if cancel.is_set():
                return
            conn.request("POST", self.path, body=body, headers=headers)
            socks.append(conn.sock)
            resp = conn.getresponse()
            if resp.status != 200:
                detail = resp.read(2000).decode("utf-8", "replace").strip().splitlines()
                events.put(("end", base, None, f"HTTP {resp.status} from server: {detail[0] if detail else ''}"))
                return
            usage = None
            for raw in resp:
                if cancel.is_set():
                    return
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                msg = json.loads(data)
                usage = msg.get("usage") or usage
                for ch in msg.get("choices") or []:
                    i = int(ch.get("index", 0))
                    piece = (ch.get("delta") or {}).get("content") if self.chat else ch.get("text")
                    if piece:
                        texts.setdefault(i, []).append(piece)
                        chunks[i] = chunks.get(i, 0) + 1
                    lp = ch.get("logprobs") or {}
                    vals = [t.get("logprob") for t in lp.get("content") or []] if self.chat \
                        else list(lp.get("token_logprobs") or [])
                    lps.setdefault(i, []).extend(v for v in vals if isinstance(v, (int, float)))
                    if ch.get("finish_reason"):
                        reason = _REASONS.get(ch["finish_reason"], "eos")
                        if ch["finish_reason"] == "stop" and isinstance(ch.get("stop_reason"), str):
                            reason = "stop"  # vLLM: a stop string (an int stop_reason is a stop token)
                        got = lps.get(i)
                        events.put(("done", base + i, BranchOutput(
                            base + i, "".join(texts.get(i, [])), len(got) if got else chunks.get(i, 0), reason,
                            time.perf_counter() - t0, sum(got) if got else None, exact_tokens=bool(got)), None))
            events.put(("end", base, usage, None))
        except (OSError, http.client.HTTPException, ValueError) as e:
            events.put(("end", base, None, f"{type(e).__name__}: {e}"))
        finally:
            conn.close()

    # -- N branches -------------------------------------------------------------------------------------
    def generate(self, prompt: str, n: int, deadline: Deadline, on_finish: OnFinish | None = None,
                 seed: int = 0) -> BackendResult:
        t0 = deadline.start
        remaining = deadline.remaining()
        timeout = self.timeout_s if remaining is None else max(0.5, min(self.timeout_s, remaining + 1.0))
        plan = [(0, n)] if self.mode == "n" else [(i, 1) for i in range(n)]
        events: queue.Queue = queue.Queue()
        socks, threads, pending, cancel = [], [], list(plan), threading.Event()
        result: dict[int, BranchOutput] = {}
        open_requests, stopped_by, error = 0, None, None
        per_request_n = {base: k for base, k in plan}
        usage_tokens: dict[int, int] = {}

        def launch():
            nonlocal open_requests
            while pending and open_requests < self.max_parallel:
                base, k = pending.pop(0)
                th = threading.Thread(target=self._stream, args=(self._connect(timeout), self._body(prompt, k, seed + base),
                                                                 base, events, t0, socks, cancel), daemon=True)
                th.start()
                threads.append(th)
                open_requests += 1

        launch()
        while open_requests:
            left = deadline.remaining()
            if left is not None and left <= 0:
                stopped_by = "deadline"
                break
            try:
                kind, idx, payload, err = events.get(timeout=0.05 if left is None else max(0.001, min(left, 0.05)))
            except queue.Empty:
                continue
            if kind == "done":
                result[idx] = payload
                if on_finish and on_finish(payload):
                    stopped_by = "callback"
                    break
            else:
                open_requests -= 1
                if err and not result:
                    error = err
                if payload and per_request_n.get(idx) == 1 and idx in result:
                    usage_tokens[idx] = int(payload.get("completion_tokens") or 0)
                launch()
        cancel.set()
        for sock in list(socks):  # cancel whatever is still streaming (the server sees the disconnect)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if error and not result and stopped_by is None:
            raise PlannerError(f"openai backend ({self.host}:{self.port or ''}): {error}")
        now = deadline.elapsed()
        cut = "deadline" if stopped_by == "deadline" else ("cancelled" if stopped_by else "error")
        branches = []
        for i in range(n):
            b = result.get(i) or BranchOutput(i, None, 0, cut, now)
            if i in usage_tokens and usage_tokens[i] > 0:
                b.num_tokens, b.exact_tokens = usage_tokens[i], True
            branches.append(b)
        return BackendResult(branches, now, None, stopped_by, info={"requests": len(plan)})
