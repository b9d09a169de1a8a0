"""A fake OpenAI-compatible server for the nothing-lost / nothing-hangs tests: a thread on 127.0.0.1 that can
answer normally, die mid-run, never answer, trickle keep-alive bytes, or send garbage, and counts requests.

Bounded and self-stopping: every slow behaviour polls a stop event, and the server shuts itself down after
`lifetime_s` even if a test forgets to close it. Questions look like "Problem 7 ..."; the answer is 7."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "die_mid_stream", "refuse", "never", "trickle", "trickle_bytes", "garbage_json", "garbage_http",
         "http_500", "http_404")


class FakeOpenAI:
    def __init__(self, mode: str = "ok", delay_s: float = 0.0, lifetime_s: float = 60.0, get_mode: str = "ok",
                 model_id: str = "m", answers: list[str] | None = None, branch_delay_s: float = 0.0,
                 die_after: int | None = None, usage: bool = False, pooling=None,
                 branch_delays: list[float] | None = None, logprob=None, usage_tokens: int = 5):
        """Fan-out extras (all off by default): `model_id` is what /v1/models lists; `answers[g % len]` is branch
        g's answer, g = the request's seed + choice index (the fan-out sends seed0 + the replica's first
        branch), instead of the problem number; choice i finishes at (i + 1) * `branch_delay_s`; the stream
        breaks off after `die_after` finished choices; `usage` ends the stream with a usage chunk
        (prompt_tokens 10, completion_tokens `usage_tokens` per choice). `pooling(texts) -> [[label outputs], ...]`
        serves vLLM's POST /pooling (a reward model; its bodies in `pool_bodies`); None answers /pooling with 404,
        as a generate-only server does.

        Branch timing (the single-server backend tests): with `branch_delays`, choice g (g = seed + choice index,
        as for `answers`) streams three pieces at 0, 1/3 and 2/3 of branch_delays[g % len] and finishes at it,
        every choice interleaved in time order as a real server's concurrent branches are; a request that asks
        for logprobs gets one token log-prob `logprob(answer)` per piece. Every completions request is kept as
        (path, body, Authorization) in `requests`; a client that hangs up mid-stream is noted in `disconnects`."""
        assert mode in MODES
        assert branch_delays is None or (die_after is None and not branch_delay_s), "one timing scheme at a time"
        self.mode, self.get_mode, self.delay_s = mode, get_mode, delay_s
        self.model_id, self.answers, self.branch_delay_s = model_id, answers, branch_delay_s
        self.die_after, self.usage, self.pooling = die_after, usage, pooling
        self.branch_delays, self.logprob, self.usage_tokens = branch_delays, logprob, usage_tokens
        self.requests: list[tuple] = []        # (path, body, Authorization header) of every completions request
        self.disconnects: list[float] = []     # perf_counter() when a client went away mid-stream
        self.pool_bodies: list[dict] = []      # every /pooling request body
        self.bodies: list[dict] = []           # every completions request body, in arrival order
        self.posts: Counter = Counter()        # question number -> POSTs received
        self.gets = 0
        self.ok_after: int | None = None       # with a failure mode: answer normally the first N POSTs
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _hang(self, step=None):
                """Hold the connection until the server stops (or do `step` every 0.1 s while holding)."""
                try:
                    while not outer.stop.wait(0.1):
                        if step is not None:
                            step()
                except OSError:
                    pass

            def _reply(self, code: int, body: bytes = b"", ctype: str | None = None):
                """A whole (non-streamed) response: status, optional Content-Type, Content-Length, body."""
                self.send_response(code)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                outer.gets += 1
                if outer.get_mode == "never":
                    return self._hang()
                if outer.get_mode == "flaky" and outer.gets == 1:  # a server still starting: 503 once
                    return self._reply(503)
                body = json.dumps({"object": "list", "data": [{"id": outer.model_id, "object": "model"}]}).encode()
                self._reply(200, body, "application/json")

            def _pool(self, body):
                outer.pool_bodies.append(body)
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"index": i, "object": "pooling", "data": v} for i, v in enumerate(outer.pooling(texts))]
                msg = json.dumps({"object": "list", "model": body.get("model"), "data": data[::-1],  # any order
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
                self._reply(200, msg, "application/json")

            def _finish(self, n):
                """The stream's end: the usage chunk (when asked for) and [DONE]."""
                if outer.usage:
                    use = {"prompt_tokens": 10, "completion_tokens": outer.usage_tokens * n}
                    self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': use})}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _timed(self, body, q):
                """The branch_delays stream (see the constructor): every choice's events sent in time order."""
                n, seed, events = int(body.get("n", 1)), int(body.get("seed", 0)), []
                for i in range(n):
                    g = seed + i
                    t = outer.branch_delays[g % len(outer.branch_delays)]
                    a = q if outer.answers is None else outer.answers[g % len(outer.answers)]
                    for j, piece in enumerate(["Thinking. ", "So the answer is ", f"\\boxed{{{a}}}."]):
                        ch = {"index": i, "delta": {"content": piece}, "finish_reason": None}
                        if body.get("logprobs") and outer.logprob is not None:
                            ch["logprobs"] = {"content": [{"token": piece, "logprob": outer.logprob(str(a))}]}
                        events.append((t * j / 3, ch))
                    events.append((t, {"index": i, "delta": {}, "finish_reason": "stop"}))
                events.sort(key=lambda e: e[0])
                start = time.perf_counter()
                try:
                    for at, ch in events:
                        if outer.stop.wait(max(0.0, at - (time.perf_counter() - start))):
                            return
                        self.wfile.write(f"data: {json.dumps({'choices': [ch]})}\n\n".encode())
                        self.wfile.flush()
                    self._finish(n)
                except OSError:
                    outer.disconnects.append(time.perf_counter())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/pooling") and outer.pooling is not None:
                    return self._pool(body)
                if not self.path.endswith("completions"):  # e.g. /tokenize: not served here
                    return self._reply(404)
                text = json.dumps(body.get("messages") or body.get("prompt"))
                m = re.search(r"Problem (\d+)", text)
                q = int(m.group(1)) if m else -1
                outer.posts[q] += 1
                outer.bodies.append(body)
                outer.requests.append((self.path, body, self.headers.get("Authorization")))
                mode = outer.mode
                if outer.ok_after is not None and sum(outer.posts.values()) <= outer.ok_after:
                    mode = "ok"
                if mode == "refuse":  # closes without a word, as a dying server does
                    self.close_connection = True
                    return
                if mode == "never":
                    return self._hang()
                if mode == "garbage_http":
                    self.wfile.write(b"HELLO THERE\r\n\r\n")
                    self.close_connection = True
                    return
                if mode in ("http_500", "http_404"):
                    return self._reply(int(mode[-3:]), b'{"error": {"message": "engine dead"}}' if mode == "http_500"
                                       else b'{"error": "model not found"}')
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if mode == "trickle":
                    return self._hang(lambda: (self.wfile.write(b": keep-alive\n\n"), self.wfile.flush()))
                if mode == "trickle_bytes":  # bytes, never a whole line
                    return self._hang(lambda: (self.wfile.write(b"d"), self.wfile.flush()))
                if mode == "garbage_json":
                    self.wfile.write(b"data: {this is not json\n\n")
                    self.wfile.flush()
                    return
                if outer.delay_s and outer.stop.wait(outer.delay_s):
                    return
                if outer.branch_delays is not None:
                    return self._timed(body, q)
                n = int(body.get("n", 1))
                try:
                    for i in range(n):
                        if outer.branch_delay_s and outer.stop.wait(outer.branch_delay_s):
                            return
                        if outer.die_after is not None and i >= outer.die_after:
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        a = q if outer.answers is None else outer.answers[(int(body.get("seed", 0)) + i)
                                                                          % len(outer.answers)]
                        ch = {"index": i, "delta": {"content": f"So the answer is \\boxed{{{a}}}."},
                              "finish_reason": None}
                        self.wfile.write(f"data: {json.dumps({'choices': [ch]})}\n\n".encode())
                        if mode == "die_mid_stream":
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        done = {"index": i, "delta": {}, "finish_reason": "stop"}
                        self.wfile.write(f"data: {json.dumps({'choices': [done]})}\n\n".encode())
                        self.wfile.flush()
                    self._finish(n)
                except OSError:
                    outer.disconnects.append(time.perf_counter())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._reaper = threading.Timer(lifetime_s, self.close)
        self._reaper.daemon = True
        self._reaper.start()

    @property
    def total_posts(self) -> int:
        return sum(self.posts.values())

    def close(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()
        self._reaper.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def dataset(path, n: int) -> str:
    """A JSONL dataset of n problems "Problem i" with reference answer i and id "p{i}"."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"problem": f"Problem {i}: what number is this?", "answer": str(i),
                                "unique_id": f"p{i}"}) + "\n")
    return str(path)


def wait_until(cond, timeout_s: float = 20.0, step_s: float = 0.02) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return bool(cond())
