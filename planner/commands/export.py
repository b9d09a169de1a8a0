"""`planner export PLAN --engine vllm|sglang|trtllm`: turn a plan into the engine's launch arguments and
request body (docs/engines.md). Pure standard library: no torch, no engine import."""

from __future__ import annotations

import sys
from pathlib import Path

from planner.errors import PlannerError


def register(subparsers) -> None:
    from planner.export import ENGINES, FORMATS

    p = subparsers.add_parser(
        "export", help="render a plan for vLLM, SGLang or TensorRT-LLM",
        description="Render a plan (tts-plan/1) as server arguments + request body for a serving engine. "
                    "Formats: args (shell lines), json (everything), yaml (TRT-LLM --config file).")
    p.add_argument("plan", help="plan JSON written by `planner recommend -o`")
    p.add_argument("--engine", required=True, choices=list(ENGINES), help="target serving engine")
    p.add_argument("--engine-version", default=None, metavar="V",
                   help="engine release to target (default: newest known; see docs/engines.md)")
    p.add_argument("--served-model", default=None, metavar="ID",
                   help="model the server loads and requests name: a Hugging Face id or a model folder (default: "
                        "the plan's model.hf_id; needed when the plan names only a preset)")
    p.add_argument("--format", default="args", choices=list(FORMATS), help="output format (default: args)")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from planner.export import export_plan, render
    from planner.io import atomic_write_text
    from planner.plan import load_plan

    plan = load_plan(args.plan)
    text = render(export_plan(plan, args.engine, args.engine_version, args.served_model), args.format)
    if args.output:
        out = Path(args.output)
        if out.exists() and out.resolve() == Path(args.plan).resolve():
            raise PlannerError("-o would overwrite the plan file itself; choose another output path")
        if out.exists() and not out.is_file():
            # A device or pipe (/dev/stdout, a FIFO): write into it; an atomic rename would replace it.
            try:
                with out.open("w", encoding="utf-8") as f:
                    f.write(text)
            except OSError as e:
                raise PlannerError(f"cannot write {out}: {e.strerror or e}") from None
        else:
            atomic_write_text(out, text)
    else:
        sys.stdout.write(text)
    return 0
