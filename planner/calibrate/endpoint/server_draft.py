"""Which drafter a running server speculates with, and where that was read: the launch arguments, else the
server's own report of its configuration. An endpoint profile records the real draft kind (draft model, n-gram,
EAGLE, EAGLE-3, MTP), not a generic one, so plans and exports name it.

Where each engine says it (docs/calibration.md, "Against a running server"):
- vLLM: `--speculative-config '{"method": ..., "model": ..., "num_speculative_tokens": K}'` (older builds:
  `--speculative-model`, `--num-speculative-tokens`). With no method vLLM infers one from the draft's name
  ("eagle-" -> eagle, "eagle3" -> eagle3) and its config (MTP model types), else draft_model; the MTP aliases
  (deepseek_mtp, qwen3_next_mtp, ...) are mtp (vllm/config/speculative.py). Its /metrics carry per-position
  counters but no method (vllm/v1/spec_decode/metrics.py; `vllm:cache_config_info` is the CacheConfig only);
  `GET /server_info?config_format=json` gives `vllm_config.speculative_config` on a server started with
  VLLM_SERVER_DEV_MODE=1.
- SGLang: `--speculative-algorithm EAGLE|EAGLE3|NEXTN|STANDALONE|NGRAM` with `--speculative-draft-model-path`,
  `--speculative-num-steps`, `--speculative-eagle-topk`, `--speculative-num-draft-tokens`; `GET /server_info`
  (older: /get_server_info) returns the resolved server arguments under the same names.

The drafter's measured cost stays inside the fitted step (`draft.cost: in_step`): the server drafts on every
request, so the step sweep times rounds with their drafts, and pricing the head again would count it twice."""

from __future__ import annotations

from planner.calibrate.endpoint.probe import arg_value, launch_argv
from planner.errors import PlannerError

SGLANG_KIND = {"EAGLE": "eagle", "EAGLE3": "eagle3", "NEXTN": "mtp", "MTP": "mtp", "STANDALONE": "model",
               "NGRAM": "ngram", "LOOKAHEAD": "ngram"}
MODEL_FREE = ("ngram", "[ngram]", "ngram_gpu", "suffix")


def vllm_kind(method: str | None, model: str | None) -> str | None:
    """The profile's draft kind for a vLLM speculative_config (None: a method the planner does not model)."""
    m = (method or "").strip().lower()
    name = (model or "").lower()
    if not m:  # vLLM's own inference when no method is given
        m = "ngram" if name in ("ngram", "[ngram]") else "draft_model"
    if m in ("eagle", "eagle3"):
        return m
    if m == "mtp" or m.endswith("_mtp"):
        return "mtp"
    if m in MODEL_FREE:
        return "ngram"
    if m == "draft_model":
        return "eagle" if "eagle-" in name else "eagle3" if "eagle3" in name else "model"
    return None


def _int(v, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not str(v).strip().isdigit() or int(v) < 1:
        raise PlannerError(f"{what} must be a positive integer, got {v!r}")
    return int(v)


def from_launch(launch, spec_cfg: dict | None) -> dict | None:
    """{kind, method, id, k, topk, draft_tokens, where} from the launch arguments, or None when they name none."""
    argv = launch_argv(launch)
    if spec_cfg is not None:
        method, model = spec_cfg.get("method"), spec_cfg.get("model")
        return {"kind": vllm_kind(method, model), "method": method or "(inferred by vLLM)", "id": model,
                "k": _int(spec_cfg.get("num_speculative_tokens"), "--speculative-config num_speculative_tokens"),
                "where": "--launch-args --speculative-config"}
    model = arg_value(argv, "--speculative-model")
    if model:  # vLLM before --speculative-config
        return {"kind": vllm_kind(None, model), "method": "(inferred by vLLM)", "id": model,
                "k": _int(arg_value(argv, "--num-speculative-tokens"), "--launch-args: --num-speculative-tokens"),
                "where": "--launch-args --speculative-model"}
    algo = arg_value(argv, "--speculative-algorithm", "--speculative-algo")
    if algo:
        return sglang(algo, arg_value(argv, "--speculative-draft-model-path", "--speculative-draft"),
                      arg_value(argv, "--speculative-num-steps"), arg_value(argv, "--speculative-eagle-topk"),
                      arg_value(argv, "--speculative-num-draft-tokens"), "--launch-args --speculative-algorithm",
                      target=arg_value(argv, "--model-path", "--model"))
    return None


def sglang(algo: str, draft_path, steps, topk, draft_tokens, where: str, target: str | None = None) -> dict:
    a = str(algo).strip().upper()
    kind = SGLANG_KIND.get(a)
    own = bool(draft_path and target and str(draft_path).rstrip("/") == str(target).rstrip("/"))
    if kind == "eagle" and own:
        kind = "mtp"  # SGLang resolves NEXTN to EAGLE on the target's own checkpoint (its MTP layers)
    if kind == "mtp" and own:
        draft_path = None  # the layers ship with the target: no separate checkpoint
    return {"kind": kind, "method": a, "id": draft_path, "k": _int(steps, "speculative_num_steps"),
            "topk": _int(topk, "speculative_eagle_topk"), "draft_tokens": _int(draft_tokens,
                                                                                "speculative_num_draft_tokens"),
            "where": where}


def from_server(ep, engine: str, root: str | None) -> dict | None:
    """The drafter the server reports about itself: SGLang's /server_info, vLLM's dev-mode /server_info."""
    from planner.http import HttpError

    paths = ("/server_info", "/get_server_info") if engine == "sglang" else ("/server_info?config_format=json",)
    for path in paths:
        try:
            info = ep.get_json(path, timeout_s=10)
        except (PlannerError, HttpError):
            continue
        if not isinstance(info, dict):
            continue
        if info.get("speculative_algorithm"):
            return sglang(info["speculative_algorithm"], info.get("speculative_draft_model_path"),
                          info.get("speculative_num_steps"), info.get("speculative_eagle_topk"),
                          info.get("speculative_num_draft_tokens"), f"GET {path} speculative_algorithm",
                          target=info.get("model_path") or root)
        cfg = (info.get("vllm_config") or {}) if isinstance(info.get("vllm_config"), dict) else {}
        spec = cfg.get("speculative_config")
        if isinstance(spec, dict) and (spec.get("method") or spec.get("model")):
            out = from_launch(None, spec)
            out["where"] = f"GET {path} vllm_config.speculative_config"
            return out
    return None


def draft_section(found: dict | None, k: int, notes: list[str]) -> dict:
    """The profile's draft section for a server that speculates with K positions; `found` from the launch
    arguments or the server (None: the method is unknown, recorded as n-gram-like free drafts and said)."""
    if found is None or found.get("kind") is None:
        what = "unknown" if found is None else f"{found['method']!r}, which the planner does not model"
        notes.append(f"speculative method {what}: recorded as model-free drafts (kind ngram) whose cost is inside "
                     "the measured step; pass --launch-args with the server's command line to name it")
        return {"kind": "ngram", "name": f"server-side {found['method'] if found else 'unknown'} (K={k})"}
    kind, ident = found["kind"], found.get("id")
    shape = f"K={k}" + (f", top-k {found['topk']}, {found['draft_tokens']} draft tokens"
                        if (found.get("topk") or 1) > 1 and found.get("draft_tokens") else "")
    name = ident or f"server-side {found['method']} ({shape})"  # the checkpoint, which plans and exports name
    notes.append(f"drafter {kind} ({found['method']}, {shape}{', ' + ident if ident else ''}) read from "
                 f"{found['where']}: its cost is inside the measured step time (draft.cost in_step), its acceptance "
                 "is measured")
    if (found.get("topk") or 1) > 1:
        notes.append(f"the server drafts a top-{found['topk']} tree: the measured acceptance is kept per position "
                     "as a chain would see it (the rounds' real width is inside the fitted step)")
    draft = {"kind": kind, "name": name, "cost": "in_step"}
    if kind in ("eagle", "eagle3", "mtp"):
        draft["head"] = {"hf_id": ident} if ident else {}
    return draft
