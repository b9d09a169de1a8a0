"""Render a plan (`tts-plan/1`) as launch arguments + request body for a serving engine.

One module per engine (vllm, sglang, trtllm), each with a MAPPINGS table keyed by engine version because
flag and key names drift between releases. `export_plan` picks the mapping (newest by default) and returns
an `Export`; `render` turns it into text in one of the formats the CLI offers. Only the standard library is
used, so `planner export` stays as light as `planner recommend`."""

from __future__ import annotations

import json
import shlex

from planner.errors import PlannerError
from planner.export import sglang, trtllm, vllm
from planner.export.common import Export, release, resolve_version, view
from planner.export.yaml_emit import dump as yaml_dump
from planner.plan import Plan

ENGINES = {"vllm": vllm, "sglang": sglang, "trtllm": trtllm}
FORMATS = ("args", "json", "yaml")


def known_versions(engine: str) -> list[str]:
    return sorted(ENGINES[engine].MAPPINGS, key=release)


def export_plan(plan: Plan, engine: str, version: str | None = None, served_model: str | None = None) -> Export:
    """`served_model` overrides the model id the server loads and the request names (`--served-model`)."""
    if engine not in ENGINES:
        raise PlannerError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    mod = ENGINES[engine]
    mapping = resolve_version(engine, mod.MAPPINGS, mod.RANGES, version)
    return mapping.render(view(plan, served_model))


def render(exp: Export, fmt: str) -> str:
    """args: a shell snippet (for TRT-LLM it first writes the YAML config with a here-doc);
    json: the full export object; yaml: the TRT-LLM config file."""
    if fmt == "json":
        return json.dumps(exp.to_dict(), indent=2) + "\n"
    if fmt == "yaml":
        if exp.engine != "trtllm":
            raise PlannerError(f"--format yaml is the TRT-LLM config file; for {exp.engine} use args or json")
        if exp.config is None:
            return "# no speculative decoding in this plan: trtllm-serve needs no config file\n"
        return yaml_dump(exp.config)
    if fmt == "args":
        lines = [f"# {exp.engine} {exp.version}"]
        if exp.config is not None:
            lines += [f"cat > {shlex.quote(exp.config_path)} <<'EOF'", yaml_dump(exp.config).rstrip("\n"), "EOF"]
        lines.append(shlex.join(exp.argv()))
        lines.append(f"# request: POST {exp.request['endpoint']} " + json.dumps(exp.request["body"]))
        lines += [f"# note: {n}" for n in exp.notes]
        return "\n".join(lines) + "\n"
    raise PlannerError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def engine_sections(plan: Plan) -> dict:
    """The plan's `engines` section: the newest mapping of every engine that can express the plan."""
    out = {}
    for name in ENGINES:
        try:
            exp = export_plan(plan, name)
        except PlannerError as e:
            out[name] = {"error": str(e)}
            continue
        out[name] = {"version": exp.version, "command": shlex.join(exp.argv()), "request": exp.request}
        if exp.config is not None:
            out[name]["config"] = exp.config
    return out
