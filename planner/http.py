"""Minimal HTTP for talking to an OpenAI-compatible server, with one network policy for every caller.

The policy (docs/cli.md, "Timeouts"): every call has a *total* deadline covering connect, first byte and the
whole body. Socket timeouts alone only bound each read, so a server that trickles keep-alive bytes would
never time out; a watchdog thread shuts the socket down when the deadline passes. Health probes (GET) get
seconds, not minutes, and only they are retried (idempotent); a POST is sent once. A server that never
answers is a PlannerError naming the URL. Standard library only.

Why not the executor's client: calibration needs per-chunk arrival times and raw `/metrics` text, not votes;
the executor's streaming backend reuses `CallDeadline` and `timeout_flag` from here."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Iterator
from urllib.parse import urlsplit

from planner.errors import PlannerError

PROBE_TIMEOUT_S = 10.0        # GET /v1/models, /version, /metrics: a live server answers in milliseconds
GET_RETRIES = 2               # extra attempts for a GET refused/reset or answered 502/503/504
MAX_TIMEOUT_S = 86400.0


def timeout_flag(flag: str):
    """`type=` for a timeout flag: a finite number of seconds in (0, 86400]; 0, negative, NaN are one line."""
    from planner.checks import flag_number

    return flag_number(flag, lo=0.0, lo_open=True, hi=MAX_TIMEOUT_S)


def check_timeout(value, what: str) -> float:
    """The same check for a timeout given in code (not through a flag)."""
    from planner.checks import number

    return float(number(value, what, lo=0.0, lo_open=True, hi=MAX_TIMEOUT_S))


class CallDeadline:
    """A total deadline for one HTTP call: `arm(sock)` starts a watchdog that shuts the socket down when the
    deadline passes (unblocking any read, however the server trickles); reads in between use the time left
    as their socket timeout. `expired` says afterwards whether the watchdog (not the server) ended the call."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.end = time.monotonic() + self.seconds
        self.expired = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def arm(self, sock) -> None:
        def fire():
            with self._lock:
                self.expired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.cancel()
        self._timer = threading.Timer(max(0.0, self.remaining()), fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def normalize_base(url: str) -> str:
    """'host:8000', 'http://h:8000/', 'http://h:8000/v1' -> 'http://h:8000' (paths below add /v1)."""
    u = url.strip().rstrip("/")
    if not u:
        raise PlannerError("endpoint URL is empty: give the server's URL, e.g. http://localhost:8000")
    if "://" not in u:
        u = "http://" + u
    if not u.startswith(("http://", "https://")):
        raise PlannerError(f"endpoint {url!r}: only http:// and https:// URLs are supported")
    try:
        parts = urlsplit(u)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise PlannerError(f"endpoint {url!r} is not a valid URL ({e})") from None
    if not parts.hostname:
        raise PlannerError(f"endpoint {url!r} has no host name")
    return u[:-3] if u.endswith("/v1") else u


class HttpError(PlannerError):
    """A 4xx/5xx answer; `status` and the server's own message are kept for callers that branch on them."""

    def __init__(self, msg: str, status: int, detail: str):
        super().__init__(msg)
        self.status, self.detail = status, detail


def _server_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        d = json.loads(text)
        err = d.get("error", d) if isinstance(d, dict) else d
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:300]
        return str(d.get("detail", err) if isinstance(d, dict) else err)[:300]
    except (ValueError, AttributeError):
        return " ".join(text.split())[:300]


class Endpoint:
    """One server. `timeout_s` is the total deadline of a POST (default 120 s) and caps every GET, whose own
    default is PROBE_TIMEOUT_S; `timeout_flag` names the flag to raise it in messages."""

    def __init__(self, url: str, timeout_s: float = 120.0, timeout_flag: str = "--endpoint-timeout"):
        self.base = normalize_base(url)
        self.timeout_s = check_timeout(timeout_s, timeout_flag)
        self.timeout_flag = timeout_flag
        u = urlsplit(self.base)
        self._https, self._host, self._port = u.scheme == "https", u.hostname, u.port
        self._prefix = u.path.rstrip("/")

    # -- one call ----------------------------------------------------------------------------------------
    def _timeout(self, method: str, timeout_s: float | None) -> float:
        if timeout_s is not None:
            return min(float(timeout_s), self.timeout_s)
        return min(PROBE_TIMEOUT_S, self.timeout_s) if method == "GET" else self.timeout_s

    def _late(self, method: str, path: str, call: CallDeadline) -> PlannerError:
        return PlannerError(f"endpoint {self.base}: no answer to {path} within {call.seconds:g} s ({method} not "
                            f"complete by then; raise {self.timeout_flag} if the server is just slow)")

    def _start(self, method: str, path: str, body: dict | None, call: CallDeadline, stream: bool = False):
        """Connect, send, read the status line and headers, all under `call`; (conn, response, socket). The
        socket is kept apart: http.client drops conn.sock once the response owns it."""
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=max(0.01, call.remaining()))
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "text/event-stream" if stream else "*/*"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.connect()
            sock = conn.sock
            call.arm(sock)
            conn.request(method, self._prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
        except BaseException as e:
            call.cancel()
            conn.close()
            if call.expired or isinstance(e, (socket.timeout, TimeoutError)):
                raise self._late(method, path, call) from None
            if isinstance(e, (OSError, http.client.HTTPException)):
                raise _Unreachable(f"endpoint {self.base} unreachable ({method} {path}): {reason(e)}") from None
            raise
        if resp.status >= 400:
            try:
                detail = _server_message(resp.read(4000))
            except (OSError, http.client.HTTPException):
                detail = ""
            call.cancel()
            conn.close()
            raise HttpError(f"endpoint {self.base}: {method} {path} returned HTTP {resp.status}: {detail}",
                            resp.status, detail)
        return conn, resp, sock

    def _call(self, method: str, path: str, body: dict | None, timeout_s: float | None) -> bytes:
        call = CallDeadline(self._timeout(method, timeout_s))
        attempts = 1 + (GET_RETRIES if method == "GET" else 0)
        for attempt in range(attempts):
            try:
                conn, resp, _ = self._start(method, path, body, call)
                try:
                    data = resp.read()
                    if call.expired:  # the watchdog ended a trickle: what came is not the answer
                        raise self._late(method, path, call)
                    return data
                except (OSError, http.client.HTTPException) as e:
                    if call.expired or isinstance(e, (socket.timeout, TimeoutError)):
                        raise self._late(method, path, call) from None
                    raise PlannerError(f"endpoint {self.base}: connection lost reading {path} ({e}); did the "
                                       f"server die?") from None
                finally:
                    call.cancel()
                    conn.close()
            except (_Unreachable, HttpError) as e:
                retry = isinstance(e, _Unreachable) or e.status in (502, 503, 504)
                wait = 0.5 * 2 ** attempt
                if not retry or attempt + 1 >= attempts or call.remaining() <= wait:
                    if isinstance(e, HttpError):
                        raise
                    raise PlannerError(str(e)) from None
                time.sleep(wait)
        raise AssertionError("unreachable")

    def get_text(self, path: str, timeout_s: float | None = None) -> str:
        return self._call("GET", path, None, timeout_s).decode("utf-8", "replace")

    def _json(self, raw: bytes, path: str):
        try:
            return json.loads(raw)
        except ValueError:
            raise PlannerError(f"endpoint {self.base}: {path} did not answer JSON "
                               f"(not an OpenAI-compatible server?): {raw[:80]!r}") from None

    def get_json(self, path: str, timeout_s: float | None = None):
        return self._json(self._call("GET", path, None, timeout_s), path)

    def post_json(self, path: str, body: dict, timeout_s: float | None = None):
        return self._json(self._call("POST", path, body, timeout_s), path)

    def stream(self, path: str, body: dict, timeout_s: float | None = None) -> Iterator[tuple[float, dict]]:
        """POST with stream=true; yields (monotonic arrival time, parsed `data:` object) until [DONE].
        `timeout_s` (default: the endpoint's) bounds the whole stream, however the server paces its bytes."""
        call = CallDeadline(self._timeout("POST", timeout_s))
        try:
            conn, resp, sock = self._start("POST", path, {**body, "stream": True}, call, stream=True)
        except _Unreachable as e:
            raise PlannerError(str(e)) from None
        try:
            while True:
                sock.settimeout(max(0.01, call.remaining()))
                raw = resp.readline(1 << 20)
                if not raw:
                    break
                t = time.monotonic()
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    obj = json.loads(payload)
                except ValueError:
                    raise PlannerError(f"endpoint {self.base}: bad stream chunk from {path}: "
                                       f"{payload[:80]!r}") from None
                if isinstance(obj, dict) and "error" in obj:
                    raise PlannerError(f"endpoint {self.base}: {path} failed mid-stream: "
                                       f"{_server_message(payload.encode())}")
                if not isinstance(obj, dict):
                    raise PlannerError(f"endpoint {self.base}: bad stream chunk from {path}: {payload[:80]!r}")
                yield t, obj
            if call.expired:
                raise self._late("POST", path, call)
            raise PlannerError(f"endpoint {self.base}: stream from {path} ended before [DONE]; did the server die?")
        except (OSError, http.client.HTTPException) as e:
            if call.expired or isinstance(e, (socket.timeout, TimeoutError)):
                raise self._late("POST", path, call) from None
            raise PlannerError(f"endpoint {self.base}: stream from {path} broke ({e}); did the server die?") from None
        finally:
            call.cancel()
            conn.close()


def reason(e: BaseException) -> str:
    """A network exception as a short one-line phrase (a garbage status line is shown, not printed raw)."""
    if isinstance(e, http.client.BadStatusLine) and not isinstance(e, http.client.RemoteDisconnected):
        return f"not an HTTP answer: {' '.join(str(e.args[0] if e.args else e).split())[:80]!r}"
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())[:300]


class _Unreachable(PlannerError):
    """Connecting or sending failed before any answer: safe to retry a GET."""
