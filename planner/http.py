"""Minimal HTTP for measuring an OpenAI-compatible server: JSON GET/POST and server-sent-event streams with
arrival timestamps. Standard library only, every call has a timeout, every failure is one PlannerError line.

Why not the executor's client: calibration needs per-chunk arrival times and raw `/metrics` text, not votes;
this stays a thin measuring tool and does not cancel, retry or vote."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Iterator

from planner.errors import PlannerError


def normalize_base(url: str) -> str:
    """'host:8000', 'http://h:8000/', 'http://h:8000/v1' -> 'http://h:8000' (paths below add /v1)."""
    u = url.strip().rstrip("/")
    if not u:
        raise PlannerError("endpoint URL is empty")
    if "://" not in u:
        u = "http://" + u
    if not u.startswith(("http://", "https://")):
        raise PlannerError(f"endpoint {url!r}: only http:// and https:// URLs are supported")
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
        return text[:300]


class Endpoint:
    def __init__(self, url: str, timeout_s: float = 30.0):
        self.base = normalize_base(url)
        self.timeout_s = timeout_s

    def _open(self, path: str, body: dict | None, timeout_s: float | None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json", "Accept": "*/*"})
        t = timeout_s or self.timeout_s
        try:
            return urllib.request.urlopen(req, timeout=t)
        except urllib.error.HTTPError as e:
            detail = _server_message(e.read() or b"")
            raise HttpError(f"endpoint {self.base}: {req.get_method()} {path} returned HTTP {e.code}: {detail}",
                            e.code, detail) from None
        except (socket.timeout, TimeoutError):
            raise PlannerError(f"endpoint {self.base}: no answer to {path} within {t:.0f} s") from None
        except urllib.error.URLError as e:
            reason = e.reason if not isinstance(e.reason, Exception) else (e.reason.strerror or e.reason)
            raise PlannerError(f"endpoint {self.base} unreachable: {reason}") from None
        except (ConnectionError, OSError) as e:
            raise PlannerError(f"endpoint {self.base} unreachable: {e}") from None

    def _read(self, resp, path: str) -> bytes:
        try:
            with resp:
                return resp.read()
        except (socket.timeout, TimeoutError):
            raise PlannerError(f"endpoint {self.base}: answer to {path} stalled past the timeout") from None
        except (ConnectionError, OSError) as e:
            raise PlannerError(f"endpoint {self.base}: connection lost reading {path} ({e})") from None

    def get_text(self, path: str, timeout_s: float | None = None) -> str:
        return self._read(self._open(path, None, timeout_s), path).decode("utf-8", "replace")

    def _json(self, raw: bytes, path: str):
        try:
            return json.loads(raw)
        except ValueError:
            raise PlannerError(f"endpoint {self.base}: {path} did not answer JSON "
                               f"(not an OpenAI-compatible server?): {raw[:80]!r}") from None

    def get_json(self, path: str, timeout_s: float | None = None):
        return self._json(self._read(self._open(path, None, timeout_s), path), path)

    def post_json(self, path: str, body: dict, timeout_s: float | None = None):
        return self._json(self._read(self._open(path, body, timeout_s), path), path)

    def stream(self, path: str, body: dict, timeout_s: float | None = None) -> Iterator[tuple[float, dict]]:
        """POST with stream=true; yields (monotonic arrival time, parsed `data:` object) until [DONE].
        `timeout_s` bounds the wait for each chunk (socket read), not the whole stream."""
        resp = self._open(path, {**body, "stream": True}, timeout_s)
        try:
            with resp:
                for raw in resp:
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
                    yield t, obj
            raise PlannerError(f"endpoint {self.base}: stream from {path} ended before [DONE]; did the server die?")
        except (socket.timeout, TimeoutError):
            raise PlannerError(f"endpoint {self.base}: stream from {path} stalled past "
                               f"{timeout_s or self.timeout_s:.0f} s") from None
        except (ConnectionError, OSError) as e:
            raise PlannerError(f"endpoint {self.base}: stream from {path} broke ({e}); did the server die?") from None
