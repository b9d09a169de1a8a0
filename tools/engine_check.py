"""Check rendered exports with the engines' OWN argument and config code (no hand-written schema).

Runs inside the optional engines venv that `.ci/engines.sh` builds (SGLang + vLLM CPU wheel):

    HF_HUB_OFFLINE=1 HF_HOME=<cache with config.json-only snapshots> \\
    .venv-engines/bin/python -m tools.engine_check EXPORT.json [...] [--out RESULTS.jsonl]

Each file holds one export (`planner export --format json`) or a JSON object {name: export}. Prints one
JSON line per export: {"name", "engine", "ok", "error", "resolved", "corrected"}; exit 0 when all pass.
`corrected` lists values the engine silently changed (SGLang rewrites inconsistent EAGLE numbers instead of
rejecting them), and a correction counts as a failure: the plan would not run as planned.

Imports only the standard library and the engine packages, so it works without the planner's own deps."""

from __future__ import annotations

import contextlib
import io
import json
import sys


def _vllm_server(argv: list[str]) -> dict:
    from vllm.engine.arg_utils import EngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    try:  # the `vllm serve` parser moved between releases (0.32: launchers, 0.33: common)
        from vllm.entrypoints.common.cli_args import make_arg_parser, validate_parsed_serve_args
    except ImportError:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args

    args = make_arg_parser(FlexibleArgumentParser(prog="vllm serve")).parse_args(argv)
    if getattr(args, "model_tag", None):
        args.model = args.model_tag
    validate_parsed_serve_args(args)
    cfg = EngineArgs.from_cli_args(args).create_engine_config()
    sc = cfg.speculative_config
    pc = cfg.parallel_config
    out = {"model": cfg.model_config.model, "tensor_parallel_size": pc.tensor_parallel_size,
           "data_parallel_size": pc.data_parallel_size, "nnodes": getattr(pc, "nnodes", 1),
           "quantization": cfg.model_config.quantization, "kv_cache_dtype": cfg.cache_config.cache_dtype,
           "speculative": None}
    if sc is not None:
        out["speculative"] = {"method": sc.method, "num_speculative_tokens": sc.num_speculative_tokens,
                              "model": sc.model if sc.method != "ngram" else None,
                              "draft_tensor_parallel_size": getattr(sc, "draft_tensor_parallel_size", None)}
        if sc.method == "ngram":
            out["speculative"].update(prompt_lookup_max=sc.prompt_lookup_max, prompt_lookup_min=sc.prompt_lookup_min)
    return out


def _vllm_request(request: dict) -> dict:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    body = request["body"]
    unknown = sorted(set(body) - set(ChatCompletionRequest.model_fields))
    if unknown:  # the pydantic model ignores extra keys; an ignored key is a silent plan change
        raise ValueError(f"request keys not in vLLM's ChatCompletionRequest: {unknown}")
    sp = ChatCompletionRequest(**body).to_sampling_params(body["max_tokens"], {})
    return {"n": sp.n, "temperature": sp.temperature, "top_p": sp.top_p, "max_tokens": sp.max_tokens}


def check_vllm(exp: dict) -> tuple[dict, list]:
    resolved = {"server": _vllm_server(exp["server_args"]), "request": _vllm_request(exp["request"])}
    want = _flag_values(exp["server_args"])
    corrected = []
    if int(want.get("--tensor-parallel-size", 1)) != resolved["server"]["tensor_parallel_size"]:
        corrected.append(["tensor_parallel_size", want.get("--tensor-parallel-size"),
                          resolved["server"]["tensor_parallel_size"]])
    for flag, key in (("--data-parallel-size", "data_parallel_size"), ("--nnodes", "nnodes"),
                      ("--quantization", "quantization"), ("--kv-cache-dtype", "kv_cache_dtype")):
        if flag in want and str(resolved["server"][key]) != want[flag]:
            corrected.append([key, want[flag], resolved["server"][key]])
    spec = json.loads(want["--speculative-config"]) if "--speculative-config" in want else None
    got = resolved["server"]["speculative"]
    for key, val in (spec or {}).items():
        if got is None or got.get(key) != val:
            corrected.append([f"speculative_config.{key}", val, None if got is None else got.get(key)])
    for key, val in resolved["request"].items():
        if exp["request"]["body"][key] != val:
            corrected.append([f"request.{key}", exp["request"]["body"][key], val])
    return resolved, corrected


SGLANG_SPEC_FLAGS = ("--speculative-algorithm", "--speculative-draft-model-path", "--speculative-num-steps",
                     "--speculative-eagle-topk", "--speculative-num-draft-tokens",
                     "--speculative-ngram-min-bfs-breadth", "--speculative-ngram-max-bfs-breadth", "--tp",
                     "--max-running-requests", "--dp", "--nnodes", "--quantization", "--kv-cache-dtype", "--dtype")
SGLANG_KEYS = {"--tp": "tp_size", "--dp": "dp_size"}   # resolved_dict names that are not the flag's


# Names SGLang resolves to another without changing what runs ("NEXTN alias resolution": MTP heads run on the
# EAGLE worker, the draft path defaulting to the target's own checkpoint).
SGLANG_ALIASES = {("--speculative-algorithm", "NEXTN"): "EAGLE"}


def check_sglang(exp: dict) -> tuple[dict, list]:
    from sglang.srt.managers.io_struct import GenerateReqInput
    from sglang.srt.sampling.sampling_params import SamplingParams
    from sglang.srt.server_args import prepare_server_args

    # device=cuda: resolve the GPU code path the plan is meant for (no GPU is touched).
    sa = prepare_server_args(list(exp["server_args"]) + ["--device", "cuda"])
    sa.resolve_once()
    sa.check_server_args()
    r = sa.resolved_dict()
    want = _flag_values(exp["server_args"])
    resolved = {f: r.get(SGLANG_KEYS.get(f, f.lstrip("-").replace("-", "_"))) for f in SGLANG_SPEC_FLAGS}
    corrected = [[f, want[f], resolved[f]] for f in SGLANG_SPEC_FLAGS if f in want and str(resolved[f]) != want[f]
                 and SGLANG_ALIASES.get((f, want[f])) != resolved[f]]
    body = exp["request"]["body"]
    req = GenerateReqInput(**body)
    req.normalize_batch_and_arguments()
    sp = SamplingParams(**body["sampling_params"])  # raises TypeError on keys SGLang does not know
    sp.verify(32000)
    resolved["request"] = {"parallel_sample_num": req.parallel_sample_num, "n": sp.n,
                           "temperature": sp.temperature, "top_p": sp.top_p, "max_new_tokens": sp.max_new_tokens}
    if req.parallel_sample_num != body["sampling_params"].get("n", 1):
        corrected.append(["request.n", body["sampling_params"].get("n"), req.parallel_sample_num])
    return resolved, corrected


def _flag_values(argv: list[str]) -> dict:
    """{'--flag': 'value'} for every '--flag value' pair (the positional model is skipped)."""
    return {a: b for a, b in zip(argv, argv[1:], strict=False) if a.startswith("--") and not b.startswith("--")}


CHECKS = {"vllm": check_vllm, "sglang": check_sglang}


def check(name: str, exp: dict) -> dict:
    engine = exp.get("engine")
    line = {"name": name, "engine": engine, "ok": False, "error": None, "resolved": None, "corrected": []}
    if engine not in CHECKS:
        line["error"] = f"no engine parser installed for {engine!r}"
        return line
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            line["resolved"], line["corrected"] = CHECKS[engine](exp)
        line["ok"] = not line["corrected"]
        if line["corrected"]:
            line["error"] = "engine changed values: " + "; ".join(
                f"{k}: {a!r} -> {b!r}" for k, a, b in line["corrected"])
    except SystemExit as e:  # argparse: unknown flag or bad value; keep its "error: ..." line
        said = [x for x in err.getvalue().splitlines() if "error:" in x]
        line["error"] = f"argument parser rejected the arguments (exit {e.code})"
        if said:
            line["error"] += f": {said[-1].strip()}"
    except BaseException as e:  # noqa: BLE001 - any engine exception is a rejection to report
        line["error"] = f"{type(e).__name__}: {' '.join(str(e).split())[:800]}"
    finally:
        sys.stderr.write(err.getvalue())
    return line


def main(argv: list[str]) -> int:
    out_path = None
    if "--out" in argv:  # engines log to stdout, so tests ask for the results in a file of their own
        i = argv.index("--out")
        out_path, argv = argv[i + 1], argv[:i] + argv[i + 2:]
    out = open(out_path, "w", encoding="utf-8") if out_path else sys.stdout
    ok = True
    try:
        for path in argv:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            items = {path: data} if "engine" in data else data
            for name, exp in items.items():
                line = check(name, exp)
                ok &= line["ok"]
                out.write(json.dumps(line, default=str) + "\n")
                out.flush()
    finally:
        if out_path:
            out.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
