"""How the served engine prefills the prompt of a request with n branches (`serving.prefill_sharing`), read
from the server at calibration, and a check of that rule against the time-to-first-token the decode sweep
measured at each n.

Why it matters: vLLM shares only *full* KV blocks between the n children of a request, so a prompt shorter
than one block (128 tokens on the CPU build, 16 by default on GPUs) is prefilled once per branch (issue 16:
n=6 on a 118-token prompt took 5.9x the n=1 time). The model then charges prefill per branch
(planner.model.latency.prefilled_tokens); this module decides which rule the profile carries."""

from __future__ import annotations

import sys

from planner.calibrate.endpoint.probe import arg_value, launch_argv

# vLLM V1's defaults on a GPU (prefix caching on, 16-token blocks): used when the server reports nothing
DEFAULT = {"mode": "blocks", "block_size": 16, "prefix_caching": True}


def _say(notes: list[str], note: str) -> None:
    """Kept in the profile's notes and printed: the user should know which rule the predictions use."""
    notes.append(note)
    print(f"planner calibrate: note: {note}", file=sys.stderr)


def _positive_int(text) -> int | None:
    try:
        v = int(float(text))
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def prefill_sharing(engine: str, cache: dict, launch, notes: list[str]) -> dict:
    """The `serving.prefill_sharing` section: from vLLM's `vllm:cache_config_info` (block_size,
    enable_prefix_caching), else the launch arguments (vLLM `--block-size`, `--no-enable-prefix-caching`;
    SGLang `--page-size`, default 1, and `--disable-radix-cache`), else vLLM's GPU default with a note."""
    argv = launch_argv(launch)
    if engine == "sglang":  # the radix cache matches whole pages (1 token by default): near prefill-once
        if "--disable-radix-cache" in argv:
            return {"mode": "none", "prefix_caching": False, "source": "SGLang launch args (--disable-radix-cache)"}
        page = _positive_int(arg_value(argv, "--page-size")) or 1
        return {"mode": "blocks", "block_size": page, "prefix_caching": True,
                "source": "SGLang launch args (radix cache on, --page-size %d)" % page}
    block = _positive_int(cache.get("block_size"))
    if block is not None:
        on = str(cache.get("enable_prefix_caching", "")).strip().lower() == "true"
        return {"mode": "blocks" if on else "none", "block_size": block, "prefix_caching": on,
                "source": "vllm:cache_config_info"}
    block = _positive_int(arg_value(argv, "--block-size"))
    off = "--no-enable-prefix-caching" in argv
    if block is not None or off:
        out = {"mode": "none" if off else "blocks", "block_size": block or DEFAULT["block_size"],
               "prefix_caching": not off, "source": "launch args (--block-size / --no-enable-prefix-caching)"}
        _say(notes, f"prefill sharing from the launch arguments ({out['mode']}, block {out['block_size']}): the "
                     "server reports no vllm:cache_config_info")
        return out
    _say(notes, "the server reports no KV-cache configuration (vllm:cache_config_info) and --launch-args gives "
                 "none: prefill sharing set to vLLM's default, prefix caching on with 16-token blocks (each further "
                 "branch recomputes the prompt's last partial block; docs/serving.md section 4). The CPU build "
                 "uses 128-token blocks: pass --launch-args with --block-size if yours differs")
    return {**DEFAULT, "source": "default: no cache metrics"}


def check_ttft(points: list[dict], t0_s: float, s_per_token: float, sharing: dict, notes: list[str]) -> None:
    """Put the rule's prefilled tokens and predicted first-token time on every decode point (n = B branches
    on one prompt) and note how the measured time-to-first-token compares at the largest n."""
    from planner.model.latency import prefilled_tokens
    from planner.profile.schema import PrefillSharing

    rule = PrefillSharing(sharing["mode"], sharing.get("block_size"), sharing.get("prefix_caching"))
    rows = []
    for p in points:
        if not p.get("ttft_s") or not p.get("prompt_tokens"):
            continue
        toks = float(prefilled_tokens(rule, int(p["prompt_tokens"]), int(p["B"])))
        p["prefilled_tokens"] = int(toks)
        p["ttft_predicted_s"] = round(t0_s + s_per_token * toks, 6)
        p["ttft_s"] = round(float(p["ttft_s"]), 6)
        rows.append(p)
    if not rows:
        return
    top = max(rows, key=lambda p: (p["B"], -p["prompt_tokens"]))
    ratio = top["ttft_s"] / max(top["ttft_predicted_s"], 1e-9)
    verdict = "agrees" if 0.67 <= ratio <= 1.5 else "DISAGREES: check the server's cache settings"
    _say(notes, f"first-token time vs branches: at n={top['B']} on a {top['prompt_tokens']}-token prompt the "
                 f"server took {top['ttft_s']:.3f} s, the prefill rule ({rule.mode}"
                 f"{', block ' + str(rule.block_size) if rule.mode == 'blocks' else ''}) predicts "
                 f"{top['ttft_predicted_s']:.3f} s for {top['prefilled_tokens']} prefilled tokens: {verdict}")
