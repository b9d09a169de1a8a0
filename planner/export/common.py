"""What every exporter shares: the rendered result, plan checks that hold for all engines, the notes that
say what the caller must do outside the engine, and version lookup.

Engines only generate the N branches; voting, reward scoring and the deadline cut are the caller's job, so
each export carries plain-language `notes` for those parts instead of pretending the engine does them."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable

from planner.errors import PlannerError
from planner.plan import Plan

# n-gram (prompt lookup) window used when the plan does not carry one: match suffixes of 1..4 tokens.
NGRAM_MIN_DEFAULT = 1
NGRAM_MAX_DEFAULT = 4
PROMPT_PLACEHOLDER = "<PROMPT>"


@dataclass
class Export:
    """One plan rendered for one engine version. `launcher + server_args` is the server command line."""

    engine: str
    version: str
    launcher: list[str]
    server_args: list[str]
    request: dict                       # {"endpoint": ..., "body": {...}} (+ engine-specific extras)
    notes: list[str] = field(default_factory=list)
    config: dict | None = None          # TRT-LLM only: the YAML file given to trtllm-serve --config
    config_path: str | None = None      # where server_args expects that file

    def argv(self) -> list[str]:
        return [*self.launcher, *self.server_args]

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"engine": self.engine, "version": self.version, "launcher": self.launcher,
                             "server_args": self.server_args, "command": shlex.join(self.argv())}
        if self.config is not None:
            d["config_path"] = self.config_path
            d["config"] = self.config
        d["request"] = self.request
        d["notes"] = self.notes
        return d


@dataclass(frozen=True)
class Mapping:
    """How one engine version spells the plan. `render(plan_view) -> Export` does the work."""

    version: str
    render: Callable[["PlanView"], Export]
    source: str                         # where the key names come from (doc URL / checked wheel)


@dataclass(frozen=True)
class PlanView:
    """The plan fields exporters need, checked and normalised once."""

    method: str
    branches: int
    spec_method: str                    # none | draft_model | ngram | eagle | eagle3 | mtp
    k: int
    draft_model: str | None
    ngram_min: int
    ngram_max: int
    model: str
    tensor_parallel: int
    vocab: int | None                   # target / draft vocab_size when the plan or its profile says
    draft_vocab: int | None
    temperature: float
    top_p: float
    max_tokens: int
    deadline_s: float | None
    topk: int = 1                       # tree drafts: top-k per node (1: a chain)
    draft_tokens: int | None = None     # tree drafts: verify width, tree size + 1 (SGLang's num_draft_tokens)
    # the plan's GPU layout (`recommend --gpus`, plan.layout): replicas of tensor_parallel GPUs each
    replicas: int = 1
    nodes: int = 1                      # nodes the layout's GPUs span (>1: a multi-node launch)
    gpus_per_node: int | None = None
    routing: str = "split"              # split: a request's branches over the replicas; requests: whole requests
    shares: tuple = ()                  # branches per replica (split routing)
    weight_dtype: str | None = None     # the profile's number formats (planner/profile/quant.py), when it sets them
    kv_dtype: str | None = None

    @property
    def tp_spans_nodes(self) -> bool:
        return self.gpus_per_node is not None and self.tensor_parallel > self.gpus_per_node


def _num(d: dict, key: str, default: Any, where: str, kind=float, lo=None, hi=None):
    v = d.get(key, default)
    if v is None:
        v = default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        raise PlannerError(f"plan {where}.{key} must be {'an integer' if kind is int else 'a number'}, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise PlannerError(f"plan {where}.{key} must be in [{lo}, {hi}], got {v!r}")
    return kind(v)


def loadable(name: str) -> bool:
    """A name a server can load: a Hugging Face hub id (`org/name`) or a filesystem path. A bare preset or
    profile name (`smollm2-135m`) is neither: `vllm serve smollm2-135m` fails to start."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") >= 1


def served_model(plan: Plan, override: str | None = None) -> str:
    """The model the server loads and the request names: --served-model, else the plan's served_model (the id
    an endpoint reported), hf_id, or a name that is itself loadable; otherwise refuse with the flag to pass."""
    if override is not None:
        if not override.strip():
            raise PlannerError("--served-model must not be empty: give a Hugging Face id or a model folder")
        return override.strip()
    model = plan.model if isinstance(plan.model, dict) else {}
    for key in ("served_model", "hf_id"):
        val = model.get(key)
        if isinstance(val, str) and val.strip():
            return val.strip()
    name = model.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PlannerError("plan model.hf_id (or model.name) is missing: pass --served-model ID (a Hugging Face "
                           "id or a model folder) so the engine has a model to serve")
    from planner.engine.models import PRESET_HF_IDS  # a dict in a stdlib-only module: export stays light

    if name.strip() in PRESET_HF_IDS:  # a plan calibrated on a local-engine preset: serve the same model
        return PRESET_HF_IDS[name.strip()]
    if not loadable(name.strip()):
        raise PlannerError(f"plan model {name.strip()!r} has no Hugging Face id (model.hf_id) and is not a path a "
                           "server can load: pass --served-model ID (e.g. a Hugging Face id or a model folder)")
    return name.strip()


def view(plan: Plan, served: str | None = None) -> PlanView:
    """Check the parts of the plan that `load_plan` leaves loose and that every engine needs."""
    model = plan.model if isinstance(plan.model, dict) else {}
    name = served_model(plan, served)
    tp = _num(model, "tensor_parallel", 1, "model", int, lo=1)
    sampling = plan.sampling if isinstance(plan.sampling, dict) else {}
    temperature = _num(sampling, "temperature", 1.0, "sampling", lo=0.0)
    top_p = _num(sampling, "top_p", 1.0, "sampling", lo=1e-9, hi=1.0)
    max_tokens = _num(sampling, "max_tokens", None, "sampling", int, lo=1) if sampling.get(
        "max_tokens") is not None else None
    if max_tokens is None:
        raise PlannerError("plan sampling.max_tokens is missing: the engines need an output-length cap")
    if plan.branches > 1 and temperature == 0.0:
        raise PlannerError(f"plan has {plan.branches} branches at temperature 0: greedy branches are identical "
                           "(and vLLM rejects n > 1 with greedy sampling); use temperature > 0 or 1 branch")
    spec = plan.speculative
    draft = spec.get("draft_model")
    if spec["method"] == "draft_model" and (not isinstance(draft, str) or not draft.strip()):
        raise PlannerError("plan speculative.method is draft_model but speculative.draft_model is missing")
    nmin = _num(spec, "ngram_min", NGRAM_MIN_DEFAULT, "speculative", int, lo=1)
    nmax = _num(spec, "ngram_max", NGRAM_MAX_DEFAULT, "speculative", int, lo=1)
    if nmin > nmax:
        raise PlannerError(f"plan speculative.ngram_min ({nmin}) must be <= speculative.ngram_max ({nmax})")
    if spec["method"] in ("eagle", "eagle3") and (not isinstance(draft, str) or not draft.strip()):
        raise PlannerError(f"plan speculative.method is {spec['method']} but speculative.draft_model is missing: "
                           "name the head's checkpoint (profile draft.head.hf_id)")
    draft = draft.strip() if spec["method"] != "ngram" and isinstance(draft, str) and draft.strip() else None
    topk = _num(spec, "eagle_topk", 1, "speculative", int, lo=1)
    width = _num(spec, "num_draft_tokens", None, "speculative", int, lo=2) if spec.get(
        "num_draft_tokens") is not None else None
    if topk > 1 and width is None:
        raise PlannerError("plan speculative.eagle_topk > 1 needs speculative.num_draft_tokens (tree size + 1)")
    vocab, draft_vocab = _vocab_sizes(plan, model.get("hf_id") or name, draft)
    formats = {k: model[k] for k in ("weight_dtype", "kv_dtype") if isinstance(model.get(k), str)}
    return PlanView(method=plan.method, branches=plan.branches, spec_method=spec["method"], k=plan.draft_len,
                    draft_model=draft, ngram_min=nmin, ngram_max=nmax, model=name, tensor_parallel=tp,
                    vocab=vocab, draft_vocab=draft_vocab, temperature=temperature, top_p=top_p,
                    max_tokens=max_tokens, deadline_s=plan.deadline_s, topk=topk, draft_tokens=width,
                    **_layout(plan, tp), **formats)


def _layout(plan: Plan, tp: int) -> dict:
    """The PlanView fields of plan.layout (none without one): replicas, the nodes the used GPUs span."""
    lay = getattr(plan, "layout", None)
    if not isinstance(lay, dict) or not lay:
        return {}
    if lay.get("tensor_parallel") != tp:
        raise PlannerError(f"plan layout.tensor_parallel ({lay.get('tensor_parallel')}) differs from "
                           f"model.tensor_parallel ({tp}): re-run `planner recommend --gpus`")
    D, per_node = int(lay["replicas"]), int(lay["gpus"]) // int(lay["nodes"])
    used = tp * D
    return {"replicas": D, "nodes": -(-used // per_node), "gpus_per_node": per_node,
            "routing": lay.get("routing", "split"), "shares": tuple(lay.get("branches_per_replica") or ())}


def layout_notes(v: PlanView, balancer: str) -> list[str]:
    """What the operator does for a layout beyond the flags: where each request's branches go."""
    if v.replicas <= 1:
        return []
    if v.routing == "split":
        shares = "/".join(map(str, v.shares)) or "equal shares"
        return [f"Layout: {v.replicas} replicas of TP {v.tensor_parallel}. The plan splits each request's "
                f"{v.branches} branches over them ({shares}): send {v.replicas} requests concurrently, each with "
                f"n = its share, one per replica ({balancer} spreads them; `planner run "
                "--endpoint` does this over one endpoint per replica), and vote over all answers."]
    return [f"Layout: {v.replicas} replicas of TP {v.tensor_parallel}; the plan routes each whole request (n = "
            f"{v.branches}) to one replica, so at the planned arrival rate each replica serves 1/{v.replicas} of "
            "the requests."]


def _vocab_sizes(plan: Plan, model: str, draft: str | None) -> tuple[int | None, int | None]:
    """From the plan (model.vocab_size, speculative.draft_vocab_size), else from the shipped profile the
    plan names when it describes the same two models. Engines differ on whether a mismatch is fatal."""
    vocab = plan.model.get("vocab_size") if isinstance(plan.model, dict) else None
    draft_vocab = plan.speculative.get("draft_vocab_size")
    if draft is not None and (vocab is None or draft_vocab is None):
        from planner.profile.store import load_profile  # light: JSON + dataclasses

        try:
            prof = load_profile(str((plan.profile or {}).get("id")))
            arch = prof.draft.arch
            if prof.model.hf_id == model and arch is not None and draft in (arch.hf_id, arch.name):
                vocab = vocab if vocab is not None else prof.model.vocab
                draft_vocab = draft_vocab if draft_vocab is not None else arch.vocab
        except (PlannerError, AttributeError, TypeError):
            pass
    ok = all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in (vocab, draft_vocab))
    return (vocab, draft_vocab) if ok else (None, None)


def caller_notes(v: PlanView, n_field: str = "n") -> list[str]:
    """What the engine does not do for this plan, in words the operator can act on."""
    notes = []
    if v.method == "majority":
        notes.append(f"Majority voting is client-side: send one request with {n_field}={v.branches}, extract the "
                     "final answer of each returned choice and return the most frequent one (ties: any).")
    elif v.method == "best_of_n":
        notes.append(f"best_of_n needs an external reward model that the engine does not run: request "
                     f"{n_field}={v.branches} choices, score each (question, choice) with your reward model and "
                     "return the highest-scoring choice. Do not use the engine's own best_of (it ranks by "
                     "log-probability, not by reward).")
    elif v.method == "weighted_majority":
        notes.append(f"weighted_majority needs an external reward model: request {n_field}={v.branches} choices, "
                     "score each with your reward model, sum the scores per distinct final answer and return "
                     "the answer with the largest total.")
    if v.deadline_s is not None:
        notes.append(f"Deadline {v.deadline_s:g} s: stream the response and stop at the deadline; choices not "
                     "finished by then do not vote (that is what the plan's predicted accuracy assumes).")
    return notes


def chat_body(v: PlanView) -> dict:
    """OpenAI-compatible chat request body (vLLM, TRT-LLM): all branches in one request through `n`."""
    return {"model": v.model, "messages": [{"role": "user", "content": PROMPT_PLACEHOLDER}], "n": v.branches,
            "temperature": v.temperature, "top_p": v.top_p, "max_tokens": v.max_tokens}


def compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def resolve_version(engine: str, mappings: dict[str, Mapping], ranges: dict[str, tuple[str, str]],
                    version: str | None) -> Mapping:
    """None -> the newest mapping; a mapping key -> that mapping; any other release number -> the mapping
    whose checked release range (inclusive) contains it. Unknown releases fail rather than guess."""
    known = sorted(mappings, key=release)
    if version is None:
        return mappings[known[-1]]
    v = version.strip().lstrip("v")
    if v in mappings:
        return mappings[v]
    want = release(v)
    if want:
        for key, (lo, hi) in ranges.items():
            if release(lo) <= want <= release(hi):
                return mappings[key]
    spans = ", ".join(f"{k} ({lo}-{hi})" if lo != hi else k for k, (lo, hi) in
                      sorted(ranges.items(), key=lambda kv: release(kv[0])))
    raise PlannerError(f"unknown {engine} version {version!r}; known: {spans}")


def release(v: str) -> tuple:
    """'0.5.15.post1' -> (0, 5, 15); '1.3.0rc2' -> (1, 3, 0); () when it does not start with a number."""
    out = []
    for part in v.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
        if m.end() != len(part):
            break
    return tuple(out)
