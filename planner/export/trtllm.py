"""TensorRT-LLM: the `trtllm-serve` command, its YAML config file (`speculative_config`), the OpenAI-compatible
request body and the LLM-API `SamplingParams` fields, per TRT-LLM version.

TRT-LLM cannot be installed on the CI machine (PyPI has only a stub that downloads from NVIDIA's index), so
these keys come from its documentation and `tensorrt_llm/llmapi/llm_args.py` (see docs/engines.md) and are
tested against that documented key set, not against TRT-LLM's own parser.

Key drift:
- 1.0: the draft model key is `speculative_model_dir`; the YAML file goes in `--extra_llm_api_options`.
- 1.2: the key is `speculative_model` (`speculative_model_dir` stays as an accepted alias).
- 1.3: `--config` is the documented flag for the YAML file (`--extra_llm_api_options` remains an alias).
`decoding_type` is `DraftTarget` for a separate draft model and `NGram` for prompt lookup in all three;
the docs run both with `disable_overlap_scheduler: true`. EAGLE-3 heads are `Eagle3` (max_draft_len + the model
key; `Eagle` is only a back-compatible alias, EAGLE-1/2 checkpoints do not run on the PyTorch backend) and MTP is
`MTP` with num_nextn_predict_layers = K (docs/source/features/speculative-decoding.md). Trees (eagle_choices,
dynamic trees) are not emitted: a tree plan is refused for TRT-LLM."""

from __future__ import annotations

from planner.errors import PlannerError
from planner.export.common import Export, Mapping, PlanView, caller_notes, chat_body, layout_notes

LAUNCHER = ["trtllm-serve"]
CONFIG_PATH = "trtllm-config.yaml"

# Documented field names per decoding_type (subset the planner may emit), used by the contract tests.
DOCUMENTED_KEYS = {
    "DraftTarget": {"decoding_type", "max_draft_len", "speculative_model", "speculative_model_dir"},
    "Eagle3": {"decoding_type", "max_draft_len", "speculative_model", "speculative_model_dir"},
    "MTP": {"decoding_type", "num_nextn_predict_layers"},
    "NGram": {"decoding_type", "max_draft_len", "max_matching_ngram_size", "is_keep_all", "is_use_oldest",
              "is_public_pool"},
}
SAMPLING_KEYS = {"n", "best_of", "temperature", "top_p", "top_k", "max_tokens", "seed", "use_beam_search"}


def _render(v: PlanView, version: str, *, model_key: str, config_flag: str) -> Export:
    config: dict = {}
    if v.topk > 1:
        raise PlannerError(f"TensorRT-LLM {version}: this exporter emits chains only (no eagle_choices tree); plan "
                           f"speculative.eagle_topk is {v.topk}: plan with draft.tree.topk 1 or export for SGLang")
    if v.spec_method == "draft_model":
        config["speculative_config"] = {"decoding_type": "DraftTarget", "max_draft_len": v.k,
                                        model_key: v.draft_model}
    elif v.spec_method in ("eagle", "eagle3"):
        if v.spec_method == "eagle":
            raise PlannerError(f"TensorRT-LLM {version} (PyTorch backend) runs EAGLE-3 heads, not EAGLE-1: "
                               "use an eagle3 head or export for vLLM/SGLang")
        config["speculative_config"] = {"decoding_type": "Eagle3",
                                        "max_draft_len": v.k, model_key: v.draft_model}
    elif v.spec_method == "mtp":
        config["speculative_config"] = {"decoding_type": "MTP", "num_nextn_predict_layers": v.k}
    elif v.spec_method == "ngram":
        # Per-request pool: each branch looks up n-grams in its own prompt + output, as the planner's
        # acceptance calibration assumes (TRT-LLM's default shares one pool across requests).
        config["speculative_config"] = {"decoding_type": "NGram", "max_draft_len": v.k,
                                        "max_matching_ngram_size": v.ngram_max, "is_public_pool": False}
    if config:
        config["disable_overlap_scheduler"] = True
    if v.kv_dtype == "fp8":   # KvCacheConfig.dtype (llm_args.py); weights: the checkpoint's ModelOpt quantisation
        config["kv_cache_config"] = {"dtype": "fp8"}
    elif v.kv_dtype == "int8":
        raise PlannerError(f"TensorRT-LLM {version}: this exporter emits an fp8 KV cache only; plan with "
                           "--kv-dtype fp8")
    # One plan request runs N sequences at once: the server must admit them in one batch.
    args = [v.model, "--backend", "pytorch", "--tp_size", str(v.tensor_parallel), "--max_batch_size", str(v.branches)]
    if v.nodes > 1 and v.tp_spans_nodes:
        args += ["--gpus_per_node", str(v.gpus_per_node)]
    if config:
        args += [config_flag, CONFIG_PATH]
    body = chat_body(v)
    sampling = {"n": v.branches, "temperature": v.temperature, "top_p": v.top_p, "max_tokens": v.max_tokens}
    request = {"endpoint": "/v1/chat/completions", "body": body, "sampling_params": sampling}
    notes = caller_notes(v) + layout_notes(v, "the load balancer in front of the replicas")
    if v.replicas > 1:
        notes.append(f"trtllm-serve has no data parallelism for a dense model: start {v.replicas} servers of "
                     f"--tp_size {v.tensor_parallel} (CUDA_VISIBLE_DEVICES per replica) behind a load balancer.")
    if v.nodes > 1 and v.tp_spans_nodes:
        notes.append(f"Multi-node TP {v.tensor_parallel}: launch under MPI over the {v.nodes} nodes (mpirun -n "
                     f"{v.tensor_parallel} trtllm-llmapi-launch trtllm-serve ...).")
    if v.weight_dtype in ("fp8", "int8", "int4"):
        notes.append(f"{v.weight_dtype} weights: serve a checkpoint quantised for TensorRT-LLM (ModelOpt); the "
                     "PyTorch backend reads its quantisation from the checkpoint.")
    notes.append(f"--max_batch_size {v.branches}: one plan request runs {v.branches} sequences at once; raise it "
                 "if several plan requests share the server.")
    if v.spec_method == "draft_model":
        notes.append("Draft and target must share a tokenizer, or acceptance collapses.")
    exp = Export("trtllm", version, list(LAUNCHER), args, request, notes)
    if config:
        exp.config, exp.config_path = config, CONFIG_PATH
    return exp


def _m(version: str, model_key: str, config_flag: str, source: str) -> Mapping:
    return Mapping(version, lambda v: _render(v, version, model_key=model_key, config_flag=config_flag), source)


MAPPINGS = {
    "1.0": _m("1.0", "speculative_model_dir", "--extra_llm_api_options",
              "https://nvidia.github.io/TensorRT-LLM/1.0.0/examples/llm_speculative_decoding.html"),
    "1.2": _m("1.2", "speculative_model", "--extra_llm_api_options",
              "https://nvidia.github.io/TensorRT-LLM/features/speculative-decoding.html (1.2 llm_args.py)"),
    "1.3": _m("1.3", "speculative_model", "--config",
              "TensorRT-LLM docs/source/features/speculative-decoding.md and commands/serve.py (main, 1.3.0rc)"),
}
RANGES = {"1.0": ("1.0.0", "1.0.99"), "1.2": ("1.2.0", "1.2.99"), "1.3": ("1.3.0", "1.3.99")}
