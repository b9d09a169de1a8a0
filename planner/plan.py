"""The plan: what `planner recommend` decides, in the versioned schema `tts-plan/1` (docs/plan.md).

Everything downstream (executor, exporters, validate) reads plans through `load_plan`, so schema checks
live in one place: every field a consumer reads is type- and range-checked here (planner.checks: no NaN, no
bool as a number, no absurd magnitudes such as 10^9 branches), with the field's path in the one-line error."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from planner import checks
from planner.errors import PlannerError
from planner.io import atomic_write_json, read_json
from planner.profile import quant
from planner.scoring import ScorerConfig
from planner.units import MAX_SECONDS, MIN_SECONDS

SCHEMA = "tts-plan/1"
METHODS = ("majority", "best_of_n", "weighted_majority")
SPEC_METHODS = ("none", "draft_model", "ngram", "eagle", "eagle3", "mtp")  # eagle/eagle3/mtp: trained heads
MAX_BRANCHES, MAX_DRAFT_LEN = 4096, 16   # largest N and K a plan (or a search limit) may hold
MAX_PROMPT_TOKENS = 10_000_000           # largest prompt length accepted (tokens)
MAX_OUTPUT_TOKENS = 10_000_000           # largest max_tokens per branch
MAX_DEVICES = 65_536                     # GPUs / tensor-parallel degree
MAX_LIST = 100_000                       # runners_up / notes entries


@dataclass
class Plan:
    method: str                         # majority | best_of_n | weighted_majority
    branches: int                       # N parallel samples
    speculative: dict                   # {"method": none|draft_model|ngram, "num_speculative_tokens": K, "draft_model": id|None}
    deadline_s: float | None
    predicted: dict                     # {"latency_s": {mean,p50,p90,p99}, "accuracy", "accuracy_stderr", "p_meet_deadline"}
    profile: dict                       # {"id", "provenance"}
    model: dict                         # {"name", "hf_id", "tensor_parallel"}
    sampling: dict                      # {"temperature", "top_p", "max_tokens"}
    quantile: float = 0.9
    objective: str = "max_accuracy"
    strategy: str = "exhaustive"
    hardware: dict = field(default_factory=dict)
    runners_up: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    engines: dict = field(default_factory=dict)  # per-engine sections, filled by exporters
    # GPU layout of `recommend --gpus` (planner/model/replicas.py): {"gpus", "nodes", "tensor_parallel",
    # "replicas", "gpus_used", "routing", "branches_per_replica", "link_GBps"?}; empty: the profile's own
    # deployment (and then absent from the JSON, so plans without --gpus are unchanged)
    layout: dict = field(default_factory=dict)
    # the scorer whose scores the accuracy prediction used (planner/scoring.py ScorerConfig.to_dict(): kind, model,
    # aggregation, transform...); `run`/`validate` load it by default. Empty (absent from the JSON): majority, or
    # a bank that recorded no scorer
    scorer: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"schema": SCHEMA, **asdict(self)}
        for key in ("layout", "scorer"):
            if not d[key]:
                del d[key]
        return d

    @property
    def draft_len(self) -> int:
        return int(self.speculative.get("num_speculative_tokens") or 0)

    @staticmethod
    def from_dict(d: Any, origin: str = "<memory>") -> "Plan":
        if not isinstance(d, dict):
            raise PlannerError(f"plan {origin}: not a JSON object")
        if d.get("schema") != SCHEMA:
            raise PlannerError(f"plan {origin}: schema is {str(d.get('schema'))[:40]!r}; this planner reads "
                               f"{SCHEMA!r}")
        return _read(d, f"plan {origin}")


_FIELDS = tuple(f.name for f in fields(Plan))
_REQUIRED = tuple(f.name for f in fields(Plan) if f.default is MISSING and f.default_factory is MISSING)


def _obj(v: Any, path: str, *, required: bool = True) -> dict:
    """A JSON object (copied, so normalising a field never edits the caller's dict); absent optional -> {}."""
    if v is None and not required:
        return {}
    if not isinstance(v, dict):
        checks.fail(path, f"must be a JSON object, got {'null' if v is None else type(v).__name__}")
    return dict(v)


def _int(d: dict, key: str, path: str, lo: int, hi: int) -> None:
    if d.get(key) is not None:
        d[key] = checks.integer(d[key], f"{path}.{key}", lo=lo, hi=hi)


def _num(d: dict, key: str, path: str, **bounds) -> None:
    if d.get(key) is not None:
        d[key] = checks.number(d[key], f"{path}.{key}", **bounds)


def _str(d: dict, key: str, path: str, *, required: bool = False, max_len: int = 4096) -> None:
    if required or d.get(key) is not None:
        checks.string(d.get(key), f"{path}.{key}", max_len=max_len)


def _read(d: dict, origin: str) -> Plan:
    unknown = [k for k in d if k != "schema" and k not in _FIELDS]
    if unknown:
        checks.fail(origin, f"unknown field {str(unknown[0])[:40]!r} (fields: {', '.join(_FIELDS)})")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        checks.fail(f"{origin}: {missing[0]}", "is missing")
    at = lambda key: f"{origin}: {key}"  # noqa: E731
    return Plan(
        method=_method(d["method"], at("method")),
        branches=checks.integer(d["branches"], at("branches"), lo=1, hi=MAX_BRANCHES),
        speculative=_speculative(_obj(d["speculative"], at("speculative")), at("speculative")),
        deadline_s=None if d["deadline_s"] is None else checks.number(d["deadline_s"], at("deadline_s"),
                                                                      lo=MIN_SECONDS, hi=MAX_SECONDS),
        predicted=_predicted(_obj(d["predicted"], at("predicted")), at("predicted")),
        profile=_profile(_obj(d["profile"], at("profile")), at("profile")),
        model=_model(_obj(d["model"], at("model")), at("model")),
        sampling=_sampling(_obj(d["sampling"], at("sampling")), at("sampling")),
        quantile=checks.number(d.get("quantile", 0.9), at("quantile"), lo=0.0, hi=1.0, lo_open=True, hi_open=True),
        objective=checks.string(d.get("objective", "max_accuracy"), at("objective"), max_len=64),
        strategy=checks.string(d.get("strategy", "exhaustive"), at("strategy"), max_len=64),
        hardware=_hardware(_obj(d.get("hardware"), at("hardware"), required=False), at("hardware")),
        runners_up=_runners(d.get("runners_up"), at("runners_up")),
        notes=_notes(d.get("notes"), at("notes")),
        engines=_obj(d.get("engines"), at("engines"), required=False),
        layout=_layout(_obj(d.get("layout"), at("layout"), required=False), at("layout")),
        scorer=ScorerConfig.from_dict(d["scorer"], at("scorer")).to_dict() if d.get("scorer") not in (None, {}) else {})


def _method(v: Any, path: str) -> str:
    if checks.string(v, path, max_len=64) not in METHODS:
        checks.fail(path, f"unknown method {v!r}; choose from {', '.join(METHODS)}")
    return v


def _speculative(s: dict, p: str) -> dict:
    method = checks.string(s.get("method"), f"{p}.method", choices=SPEC_METHODS)
    k = checks.integer(s.get("num_speculative_tokens"), f"{p}.num_speculative_tokens", lo=0, hi=MAX_DRAFT_LEN,
                       default=0)
    if (method == "none") != (k == 0):
        checks.fail(f"{p}.num_speculative_tokens", f"{k} does not fit method {method!r} (0 exactly when the "
                                                   "method is 'none')")
    s["num_speculative_tokens"] = k
    _str(s, "draft_model", p)
    _int(s, "draft_vocab_size", p, 1, 100_000_000)
    _int(s, "ngram_min", p, 1, 1024)
    _int(s, "ngram_max", p, 1, 1024)
    _int(s, "eagle_topk", p, 1, 64)             # tree drafts (planner/model/drafts.py): top-k per node
    _int(s, "num_draft_tokens", p, 1, 4096)     # tree size + 1 (SGLang's count: the root is the last token)
    return s


def _predicted(r: dict, p: str) -> dict:
    if r.get("latency_s") is not None:
        lat = r["latency_s"] = _obj(r["latency_s"], f"{p}.latency_s")
        for key in ("mean", "p50", "p90", "p99"):
            _num(lat, key, f"{p}.latency_s", lo=0.0)
    for key in ("latency_quantile_s", "tokens_per_request", "device_s_per_request"):
        _num(r, key, p, lo=0.0)
    for key in ("accuracy", "accuracy_stderr", "p_meet_deadline", "finished_share"):
        _num(r, key, p, lo=0.0, hi=1.0)
    _int(r, "prompt_tokens", p, 1, MAX_PROMPT_TOKENS)
    return r


def _profile(r: dict, p: str) -> dict:
    _str(r, "id", p, required=True, max_len=256)
    prov = r.get("provenance")
    if isinstance(prov, str):  # a free-text provenance (hand-written plans): consumers read it as an object
        r["provenance"] = {"description": prov}
    elif prov is not None and not isinstance(prov, dict):
        checks.fail(f"{p}.provenance", f"must be a JSON object or a string, got {type(prov).__name__}")
    return r


def _model(r: dict, p: str) -> dict:
    _str(r, "name", p, max_len=512)
    _str(r, "hf_id", p, max_len=4096)
    _int(r, "tensor_parallel", p, 1, MAX_DEVICES)
    _int(r, "vocab_size", p, 1, 100_000_000)
    for key, allowed in (("weight_dtype", quant.WEIGHT_DTYPES), ("kv_dtype", quant.KV_DTYPES)):
        if r.get(key) is not None:   # the profile's number formats (exporters' quantisation flags)
            checks.string(r[key], f"{p}.{key}", choices=allowed)
    return r


def _sampling(r: dict, p: str) -> dict:
    _num(r, "temperature", p, lo=0.0, hi=100.0)
    _num(r, "top_p", p, lo=0.0, hi=1.0, lo_open=True)
    _int(r, "max_tokens", p, 1, MAX_OUTPUT_TOKENS)
    return r


def _hardware(r: dict, p: str) -> dict:
    for key in ("name", "device_type", "dtype"):
        _str(r, key, p, max_len=256)
    _int(r, "gpus", p, 1, MAX_DEVICES)
    _int(r, "threads", p, 1, 1_000_000)
    return r


ROUTINGS = ("split", "requests")   # branches of a request over the replicas / whole requests to one replica


def _layout(r: dict, p: str) -> dict:
    if not r:
        return r
    for key in ("gpus", "nodes", "tensor_parallel", "replicas", "gpus_used"):
        r[key] = checks.integer(r.get(key), f"{p}.{key}", lo=1, hi=MAX_DEVICES)
    if r["tensor_parallel"] * r["replicas"] > r["gpus"] or r["gpus"] % r["nodes"]:
        checks.fail(p, f"tensor_parallel x replicas ({r['tensor_parallel']} x {r['replicas']}) must fit gpus "
                       f"({r['gpus']}) and nodes ({r['nodes']}) must divide it")
    checks.string(r.get("routing", "split"), f"{p}.routing", choices=ROUTINGS)
    per = r.get("branches_per_replica")
    if per is not None and (not isinstance(per, list) or len(per) > MAX_DEVICES):
        checks.fail(f"{p}.branches_per_replica", "must be a list of branch counts, one per replica")
    for i, n in enumerate(per or []):
        checks.integer(n, f"{p}.branches_per_replica[{i}]", lo=0, hi=MAX_BRANCHES)
    _num(r, "link_GBps", p, lo=0.0, lo_open=True)
    return r


def _runners(v: Any, p: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_LIST:
        checks.fail(p, f"must be a list of at most {MAX_LIST} objects")
    out = []
    for i, r in enumerate(v):
        r = _obj(r, f"{p}[{i}]")
        _int(r, "branches", f"{p}[{i}]", 1, MAX_BRANCHES)
        _int(r, "draft_len", f"{p}[{i}]", 0, MAX_DRAFT_LEN)
        for key in ("accuracy", "p_meet_deadline"):
            _num(r, key, f"{p}[{i}]", lo=0.0, hi=1.0)
        out.append(r)
    return out


def _notes(v: Any, p: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_LIST:
        checks.fail(p, f"must be a list of at most {MAX_LIST} strings")
    for i, n in enumerate(v):
        checks.string(n, f"{p}[{i}]", max_len=100_000)
    return list(v)


def load_plan(path: str) -> Plan:
    return Plan.from_dict(read_json(path, "plan file"), origin=str(path))


def save_plan(plan: Plan, path: str) -> None:
    atomic_write_json(path, plan.to_dict())
