"""What a server is before we measure it: OpenAI-compatible at all, which engine and version, whether it serves
the model, whether it exports Prometheus metrics and speculative counters. Each failure is one clear line."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import PlannerError
from planner.http import Endpoint, HttpError
from planner.calibrate.endpoint.metrics import SpecCounters, cache_config, parse_prometheus


SGLANG_ACCEPT = "sglang:spec_accept_length"   # gauge: mean tokens per verify round (accepted drafts + 1)


@dataclass
class ServerInfo:
    base: str
    model: str
    engine: str                       # vllm | sglang | llama.cpp | unknown
    version: str | None
    root: str | None                  # the served model's path/id as the server reports it
    max_model_len: int | None
    served: list[str]
    has_metrics: bool
    spec_positions: int               # draft positions the server reports counters for (0: no speculation)
    cache: dict = field(default_factory=dict)
    drafter: dict | None = None       # the server's drafter and where it was read (server_draft.py)
    notes: list[str] = field(default_factory=list)

    def scrape(self, ep: Endpoint) -> dict | None:
        """Parsed /metrics, or None when the server has none (then acceptance stays unmeasured)."""
        if not self.has_metrics:
            return None
        try:
            return parse_prometheus(ep.get_text("/metrics", timeout_s=15))
        except PlannerError:
            return None


def served_entry(base: str, data: list, model: str | None) -> tuple[dict, list[str], str | None]:
    """The `/v1/models` entry to calibrate: the one named by --model (its id, or the folder/HF id it was
    launched from, its `root`), or the only one served. (entry, served ids, note)."""
    entries = [m for m in data if isinstance(m, dict) and m.get("id") is not None]
    served = [str(m["id"]) for m in entries]
    if not model:
        if len(entries) == 1:
            return entries[0], served, None
        if not entries:
            raise PlannerError(f"endpoint {base} serves no model (/v1/models lists none): start the server with "
                               "a model, or check the URL")
        raise PlannerError(f"endpoint {base} serves {len(entries)} models ({', '.join(served)}): pass --model "
                           "NAME to say which to calibrate")
    entry = next((m for m in entries if str(m["id"]) == model), None)
    if entry is None:
        by_root = [m for m in entries if m.get("root") and str(m["root"]).rstrip("/") == str(model).rstrip("/")]
        if len(by_root) == 1:
            entry = by_root[0]
            return entry, served, (f"--model {model} is the folder the server loaded; it serves it as "
                                   f"{entry['id']!r}, which the profile records")
        raise PlannerError(f"model {model!r} is not served by {base}; it serves: {', '.join(served) or 'nothing'}")
    return entry, served, None


def probe(ep: Endpoint, model: str | None) -> ServerInfo:
    """What the server is; `model` None: the only model it serves (one line naming them when it serves several)."""
    try:
        listing = ep.get_json("/v1/models")
    except HttpError as e:
        raise PlannerError(f"endpoint {ep.base} is not OpenAI-compatible: GET /v1/models returned HTTP "
                           f"{e.status}") from None
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        raise PlannerError(f"endpoint {ep.base} is not OpenAI-compatible: /v1/models has no 'data' list")
    entry, served, id_note = served_entry(ep.base, data, model)
    model = str(entry["id"])
    version, engine = None, "unknown"
    try:
        v = ep.get_json("/version", timeout_s=10)
        if isinstance(v, dict) and v.get("version"):
            version, engine = str(v["version"]), "vllm"
    except PlannerError:
        pass
    if engine == "unknown" and entry.get("owned_by") in ("vllm", "sglang", "llamacpp"):
        engine = {"llamacpp": "llama.cpp"}.get(entry["owned_by"], entry["owned_by"])
    info = ServerInfo(ep.base, model, engine, version, entry.get("root"), entry.get("max_model_len"), served,
                      has_metrics=True, spec_positions=0)
    if id_note:
        info.notes.append(id_note)
    try:
        samples = parse_prometheus(ep.get_text("/metrics", timeout_s=15))
    except PlannerError:
        samples = {}
    if not samples:
        info.has_metrics = False
        info.notes.append("the server exports no /metrics: acceptance is unmeasured and step counts are "
                          "inferred from token counts")
        return info
    pre = {n.split(":", 1)[0] for n in samples if ":" in n}
    if engine == "unknown" or "sglang" in pre:  # SGLang also answers /version; its metric names are unambiguous
        engine = next((e for p, e in (("sglang", "sglang"), ("vllm", "vllm"), ("llamacpp", "llama.cpp")) if p in pre),
                      engine)
        info.engine = engine
    spec = SpecCounters.from_samples(samples, model) or SpecCounters.from_samples(samples)
    info.spec_positions = spec.num_positions if spec else 0
    info.cache = cache_config(samples)
    if spec is None and SGLANG_ACCEPT in samples:
        info.notes.append("SGLang reports speculative decoding as a mean accept length only "
                          f"({SGLANG_ACCEPT}): per-position acceptance is derived from it")
    elif spec is None:
        info.notes.append("the server reports no speculative-decoding counters (no speculative config): "
                          "acceptance is unmeasured")
    return info


def launch_argv(launch: str | list | None) -> list[str]:
    """--launch-args as an argv list (a shell-quoted string or a list; nothing given: [])."""
    if not launch:
        return []
    try:
        return shlex.split(launch) if isinstance(launch, str) else [str(a) for a in launch]
    except ValueError as e:
        raise PlannerError(f"--launch-args: cannot split the command line ({e})") from None


def arg_value(argv: list[str], *names: str) -> str | None:
    """The value of the first `--name value` / `--name=value` among `names` in argv (None: not given).
    The one reader of launch arguments: drafter (server_draft.py), prefill sharing (sharing.py) and the rules here."""
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def speculative_from_args(launch_args: str | list | None) -> dict | None:
    """The `--speculative-config` JSON of vLLM launch arguments (string or argv list), if present."""
    val = arg_value(launch_argv(launch_args), "--speculative-config")
    if val is None:
        return None
    try:
        d = json.loads(val)
    except ValueError:
        raise PlannerError(f"--launch-args: --speculative-config is not JSON: {val[:80]!r}") from None
    return d if isinstance(d, dict) else None


def _positive(val: str | None, flag: str) -> int | None:
    if val is not None and (not val.isdigit() or int(val) < 1):
        raise PlannerError(f"--launch-args: {flag} must be a positive integer, got {val!r}")
    return None if val is None else int(val)


def sglang_draft_steps(launch_args: str | list | None) -> int | None:
    """SGLang's draft depth K (`--speculative-num-steps`) from its launch arguments, if given."""
    return _positive(arg_value(launch_argv(launch_args), "--speculative-num-steps"), "--speculative-num-steps")


def tensor_parallel_from_args(launch_args: str | list | None) -> int:
    val = arg_value(launch_argv(launch_args), "--tensor-parallel-size", "-tp", "--tp")
    return _positive(val, "--tensor-parallel-size") or 1


def local_config(info: ServerInfo, model_config: str | None) -> Path:
    """config.json describing the served model: the given one, or the served folder when it is local."""
    if model_config:
        p = Path(model_config)
        p = p / "config.json" if p.is_dir() else p
        if not p.is_file():
            raise PlannerError(f"--model-config {model_config}: no such file")
        return p
    if info.root and (Path(info.root) / "config.json").is_file():
        return Path(info.root) / "config.json"
    raise PlannerError(f"the server does not expose the architecture of {info.model!r} (root {info.root!r} is not "
                       "a local folder): pass --model-config path/to/config.json")
