"""SGLang: `python -m sglang.launch_server` arguments and the native `/generate` request, per SGLang version.

Key drift (read from the released wheels' server_args, and checked with 0.5.23's own resolver):
- <= 0.5.1: `--speculative-algorithm` accepts only EAGLE, EAGLE3, NEXTN (trained EAGLE/MTP heads): a plain
  draft model or n-gram plan cannot be expressed.
- 0.5.2: adds STANDALONE (any small model as drafter, run through the EAGLE machinery).
- 0.5.3 .. 0.5.9: adds NGRAM with `--speculative-ngram-{min,max}-match-window-size` (+ bfs breadth).
- 0.5.10 .. 0.5.23: NGRAM keeps the bfs-breadth flags but the match windows are gone (a suffix trie of
  `--speculative-ngram-max-trie-depth` tokens replaces them).

A chain of K draft tokens is steps=K, topk=1, draft_tokens=K+1 (the verify width counts the last accepted
token as the tree root); SGLang silently rewrites draft_tokens to steps+1 when topk=1, so we emit the
consistent triple ourselves. A tree draft (EAGLE/EAGLE3/NEXTN or STANDALONE) is steps=K, topk=k and
draft_tokens = the plan's tree size + 1 (planner/model/drafts.py: the best-first tree under the budget). For NGRAM, bfs breadth 1 makes the draft a chain, matching the latency model."""

from __future__ import annotations

from planner.errors import PlannerError
from planner.export.common import PROMPT_PLACEHOLDER, Export, Mapping, PlanView, caller_notes, layout_notes

LAUNCHER = ["python", "-m", "sglang.launch_server"]
SPEC_DEFAULT_MAX_RUNNING = 48  # max_running_requests that SGLang resolves when speculation is on


def _request(v: PlanView) -> dict:
    return {"endpoint": "/generate",
            "body": {"text": PROMPT_PLACEHOLDER,
                     "sampling_params": {"n": v.branches, "temperature": v.temperature, "top_p": v.top_p,
                                         "max_new_tokens": v.max_tokens}}}


def _chain(k: int) -> list[str]:
    return ["--speculative-num-steps", str(k), "--speculative-eagle-topk", "1",
            "--speculative-num-draft-tokens", str(k + 1)]


HEAD_ALGORITHMS = {"eagle": "EAGLE", "eagle3": "EAGLE3", "mtp": "NEXTN"}
HEAD_ADDR = "HEAD_NODE_IP:5000"       # placeholder: the first node's address in a multi-node launch
QUANTIZATION = {"fp8": "fp8", "int8": "w8a8_int8"}   # --quantization (int4: the checkpoint's awq/gptq config)
KV_CACHE_DTYPE = {"fp8": "fp8_e4m3", "bf16": "bfloat16"}


def _layout_args(v: PlanView) -> tuple[list[str], list[str]]:
    """(flags, notes): --dp D replicas in one server (its data-parallel controller balances requests); TP across
    nodes with --nnodes/--node-rank/--dist-init-addr; replicas on several nodes as one server per node behind
    SGLang's router, since one server refuses multi-node data-parallel replicas (0.5.23 check_server_args)."""
    args, notes = [], []
    if v.nodes > 1 and v.replicas > 1:
        if v.replicas % v.nodes:
            raise PlannerError(f"SGLang runs one server per node for {v.replicas} replicas over {v.nodes} nodes: the "
                               "replicas must split evenly over the nodes; plan with another --gpus")
        local = v.replicas // v.nodes
        args += ["--dp", str(local)] if local > 1 else []
        notes.append(f"Multi-node: run this server on each of the {v.nodes} nodes ({local} replica(s) each) and put "
                     "SGLang's router in front: python -m sglang_router.launch_router --worker-urls "
                     "http://NODE1:30000 http://NODE2:30000 ... (it balances whole requests).")
    elif v.nodes > 1:
        args += ["--nnodes", str(v.nodes), "--node-rank", "0", "--dist-init-addr", HEAD_ADDR]
        notes.append(f"Multi-node TP {v.tensor_parallel}: run this command on every node with --node-rank "
                     f"0..{v.nodes - 1} and --dist-init-addr the first node's address.")
    elif v.replicas > 1:
        args += ["--dp", str(v.replicas)]
    return args, notes


def _format_args(v: PlanView, version: str) -> tuple[list[str], list[str]]:
    """(flags, notes) for the number formats the profile sets."""
    args, notes = [], []
    if v.weight_dtype in QUANTIZATION:
        args += ["--quantization", QUANTIZATION[v.weight_dtype]]
    elif v.weight_dtype in ("bf16", "fp16"):
        args += ["--dtype", {"bf16": "bfloat16", "fp16": "float16"}[v.weight_dtype]]
    elif v.weight_dtype == "int4":
        notes.append("int4 weights: serve a pre-quantised AWQ or GPTQ checkpoint; SGLang reads the method from its "
                     "quantization_config.")
    if v.kv_dtype == "int8":
        raise PlannerError(f"SGLang {version} has no int8 KV cache (--kv-cache-dtype: fp8_e4m3, fp8_e5m2, "
                           "bfloat16, ...); plan with --kv-dtype fp8 or bf16")
    if v.kv_dtype in KV_CACHE_DTYPE:
        args += ["--kv-cache-dtype", KV_CACHE_DTYPE[v.kv_dtype]]
    return args, notes


def _tree(v: PlanView) -> list[str]:
    """A tree draft: K steps, top-k beams, and the verify width the plan computed (tree size + 1), which cannot
    exceed the candidates SGLang scores: topk from the root, then topk beams x topk children per further step."""
    pool = v.topk + (v.k - 1) * v.topk * v.topk
    if v.draft_tokens is None or not 2 <= v.draft_tokens <= pool + 1:
        raise PlannerError(f"plan speculative.num_draft_tokens {v.draft_tokens} does not fit a tree of {v.k} steps "
                           f"and top-k {v.topk}: SGLang scores {pool} candidates, so it must be in 2..{pool + 1}")
    return ["--speculative-num-steps", str(v.k), "--speculative-eagle-topk", str(v.topk),
            "--speculative-num-draft-tokens", str(v.draft_tokens)]


def _render(v: PlanView, version: str, *, standalone: bool, ngram: str | None) -> Export:
    """ngram: None (unsupported), "window" (0.5.3-0.5.9 flags) or "trie" (0.5.10+)."""
    args = ["--model-path", v.model, "--tp", str(v.tensor_parallel)]
    lay, lay_notes = _layout_args(v)
    fmt, fmt_notes = _format_args(v, version)
    args += lay + fmt
    notes = caller_notes(v) + layout_notes(v, "SGLang's data-parallel controller") + lay_notes + fmt_notes
    if v.topk > 1 and v.spec_method == "ngram":
        raise PlannerError("an n-gram plan cannot carry a top-k tree (speculative.eagle_topk must be 1)")
    if v.spec_method == "draft_model":
        if not standalone:
            raise PlannerError(f"SGLang {version} has no plain draft-model speculation (only EAGLE, EAGLE3, "
                               "NEXTN heads); export for SGLang >= 0.5.2 (STANDALONE) or vLLM")
        args += ["--speculative-algorithm", "STANDALONE", "--speculative-draft-model-path", v.draft_model,
                 *(_tree(v) if v.topk > 1 else _chain(v.k))]
        notes.append("SGLang does not compare the two models' vocabularies: the draft must use the target's "
                     "tokenizer (all Qwen2.5 sizes do, although 7B+ pad vocab_size to 152064), or acceptance "
                     "collapses.")
    elif v.spec_method in HEAD_ALGORITHMS:
        args += ["--speculative-algorithm", HEAD_ALGORITHMS[v.spec_method]]
        if v.draft_model:  # NEXTN without a path: the target's own MTP layers
            args += ["--speculative-draft-model-path", v.draft_model]
        args += _tree(v) if v.topk > 1 else _chain(v.k)
    elif v.spec_method == "ngram":
        if ngram is None:
            raise PlannerError(f"SGLang {version} has no n-gram speculation; export for SGLang >= 0.5.3 or vLLM")
        args += ["--speculative-algorithm", "NGRAM", *_chain(v.k),
                 "--speculative-ngram-min-bfs-breadth", "1", "--speculative-ngram-max-bfs-breadth", "1"]
        if ngram == "window":
            args += ["--speculative-ngram-min-match-window-size", str(v.ngram_min),
                     "--speculative-ngram-max-match-window-size", str(v.ngram_max)]
        else:
            notes.append("SGLang >= 0.5.10 matches n-grams through a suffix trie "
                         "(--speculative-ngram-max-trie-depth, default 18); the plan's n-gram window is not used.")
    if v.spec_method != "none":
        # With speculation SGLang defaults to 48 running sequences; n=N expands to N sequences, so a larger
        # plan would silently run in waves and miss its predicted latency.
        if v.branches > SPEC_DEFAULT_MAX_RUNNING:
            args += ["--max-running-requests", str(v.branches)]
        notes.append(f"One plan request runs {v.branches} sequences at once; raise --max-running-requests "
                     f"(default {SPEC_DEFAULT_MAX_RUNNING} with speculation) if several plan requests share the "
                     "server.")
    return Export("sglang", version, list(LAUNCHER), args, _request(v), notes)


def _m(version: str, standalone: bool, ngram: str | None, source: str) -> Mapping:
    return Mapping(version, lambda v: _render(v, version, standalone=standalone, ngram=ngram), source)


MAPPINGS = {
    "0.5.1": _m("0.5.1", False, None,
                "sglang 0.4.10.post2 / 0.5.1 wheels: server_args.py choices EAGLE, EAGLE3, NEXTN"),
    "0.5.2": _m("0.5.2", True, None, "sglang 0.5.2 wheel: server_args.py adds STANDALONE"),
    "0.5.9": _m("0.5.9", True, "window", "sglang 0.5.3/0.5.5/0.5.7/0.5.9 wheels: NGRAM + match-window flags"),
    "0.5.23": _m("0.5.23", True, "trie", "sglang 0.5.23: ServerArgs resolve_once + check_server_args "
                 "(tests/integration/test_export_engines.py); 0.5.10 wheel has the same flags"),
}
# Releases each mapping covers (inclusive), for --engine-version values that are not a key.
RANGES = {"0.5.1": ("0.4.0", "0.5.1"), "0.5.2": ("0.5.2", "0.5.2"), "0.5.9": ("0.5.3", "0.5.9"),
          "0.5.23": ("0.5.10", "0.5.23")}
