"""The endpoint source of calibration: a running OpenAI-compatible server (vLLM, SGLang), its metrics and timings.

`measure.measure_endpoint(EndpointRun)` is what `planner calibrate --endpoint URL --model NAME` runs;
`add_endpoint_arguments(parser)` adds the options only that path uses. This file imports nothing, so the
CLI's start-up stays free of scipy and numpy."""


def _timeout(text: str) -> float:
    from planner.http import timeout_flag  # stdlib only

    return timeout_flag("--endpoint-timeout")(text)


def add_endpoint_arguments(p) -> None:
    """Options of the --endpoint path; any the caller's parser already has are left to it."""
    have = set(getattr(p, "_option_string_actions", {}))
    opts = [
        ("--launch-args", dict(metavar="CMDLINE", help="the server's command line (recorded in provenance; its "
                                                       "--tensor-parallel-size and drafter are read: vLLM "
                                                       "--speculative-config, SGLang --speculative-algorithm ...)")),
        ("--model-config", dict(metavar="CONFIG_JSON", help="config.json of the served model when the server's "
                                                            "model folder is not on this machine")),
        ("--endpoint-timeout", dict(dest="timeout", type=_timeout, default=120.0, metavar="S",
                                    help="total seconds per measuring request, connect to last byte (default "
                                         "120; health probes get at most 10)")),
        ("--prompts", dict(metavar="JSONL", help="calibration prompts (question/problem/prompt per line)")),
        ("--hardware", dict(metavar="NAME", help="name of the serving hardware, for the profile")),
        ("--batches", dict(type=lambda s: [int(x) for x in s.split(",")], metavar="B,B,...",
                           help="branch counts of the decode sweep (default 1..64; --quick 1,4,16)")),
    ]
    g = p.add_argument_group("calibration against a running server (--endpoint)")
    for flag, kw in opts:
        if flag not in have:
            g.add_argument(flag, **kw)


__all__ = ["add_endpoint_arguments"]
