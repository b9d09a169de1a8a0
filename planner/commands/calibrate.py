"""`planner calibrate`: measure a profile on this machine (or fit one from a points CSV, or from a running
server with --endpoint) and write it atomically. See docs/calibration.md."""

from __future__ import annotations

import os
import sys


def register(sub) -> None:
    from planner.commands import types as T

    p = sub.add_parser("calibrate", help="measure a profile (step times, acceptance, lengths) on this device",
                       description="Sweep forward-step times of the target (and draft) with the project's engine, "
                                   "measure acceptance per draft position and output lengths on calibration "
                                   "prompts, fit the latency model and write a measured profile (tts-profile/1).")
    p.add_argument("--model", "-m", metavar="PATH_OR_PRESET", help="target model: preset (smollm2-135m), folder, "
                                                                    ".gguf file or hub id")
    p.add_argument("--draft", default="ngram", metavar="PATH|ngram|layers:N|none",
                   help="drafter whose acceptance (and step time) is measured (default ngram)")
    dev = p.add_mutually_exclusive_group()
    dev.add_argument("--gpu", action="store_true", help="calibrate on CUDA (error if no GPU is visible)")
    dev.add_argument("--cpu", action="store_true", help="calibrate on the CPU (default)")
    p.add_argument("--dtype", choices=("auto", "bf16", "fp16", "fp32"), default="auto",
                   help="weights dtype (default auto: bf16 on GPUs and CPUs with native bf16, else fp32)")
    p.add_argument("--tp", type=T.count("--tp", 1, 64), default=None, metavar="T",
                   help="tensor-parallel degree the step times "
                        "describe (--from-points; default 1)")
    p.add_argument("--quick", action="store_true", help="small grids and budgets (<= 3 min on a 2-core CPU)")
    p.add_argument("--prompts", metavar="FILE|math500", help="calibration prompts (JSONL with problem/question "
                                                             "[and answer]); default math500")
    p.add_argument("--temperature", "-t", type=T.flag_number("--temperature", lo=0.0, hi=5.0), default=None,
                   help="sampling temperature of the plan "
                        "(default 0.7)")
    p.add_argument("--top-p", type=T.flag_number("--top-p", lo=0.0, hi=1.0, lo_open=True), default=1.0)
    p.add_argument("--accuracy", action="store_true", help="grade the calibration samples (math-verify) and store "
                                                           "a sample bank next to the profile")
    p.add_argument("--max-seconds", type=T.flag_number("--max-seconds", lo=0.0, lo_open=True, hi=1e6), metavar="S",
                   help="scale the phase budgets so that measuring "
                        "takes at most about S seconds")
    p.add_argument("--threads", type=T.count("--threads", 1, 4096),
                   help="torch CPU threads (default: torch's choice; 1 with --clock cpu)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="time with wall clock (default) or the compute thread's CPU time (CPU only, 1 thread): "
                        "use cpu on a machine shared with other jobs to measure the idle machine")
    p.add_argument("--load-meter", action="store_true",
                   help="wall clock: time a reference forward between measurement groups and rescale each group "
                        "to the run's median load (for slow, large load swings; on a quiet machine the "
                        "reference's own noise makes it worse, see docs/validation.md)")
    p.add_argument("--seed", type=T.count("--seed", 0, 2**32 - 1), default=0)
    p.add_argument("--scorer-model", metavar="DIR", help="also time this outcome reward model's scoring pass "
                   "(best-of-N, weighted voting) on the device: the profile's `scorer` section")
    p.add_argument("--id", help="profile id (default: output file name)")
    p.add_argument("--description", help="profile description")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="profile JSON to write")
    g = p.add_argument_group("fit from external measurements")
    g.add_argument("--from-points", metavar="CSV", help="fit step (and prefill) times from a CSV with columns "
                                                        "role,batch,query,context,seconds; no model is run")
    g.add_argument("--acceptance-csv", metavar="CSV", help="per-position acceptance: position + accepted,reached "
                                                           "(or alpha[,ci_low,ci_high])")
    g.add_argument("--base-profile", metavar="NAME|PATH", help="take model, lengths, accuracy, hardware from "
                                                               "this profile; replace step/prefill/acceptance")
    g.add_argument("--model-config", metavar="CONFIG_JSON", help="HF config.json of the target (no base profile)")
    g.add_argument("--draft-config", metavar="CONFIG_JSON", help="HF config.json of the draft (draft rows)")
    g.add_argument("--hardware", metavar="NAME", help="device name for the profile")
    g.add_argument("--memory-gb", type=T.flag_number("--memory-gb", lo=0.0, lo_open=True, hi=1e6),
                   help="device memory in GB (no base profile)")
    p.add_argument("--endpoint", metavar="URL", help="calibrate against a running OpenAI-compatible server")
    try:  # the serving helper's options for --endpoint (its own module; absent in a trimmed install)
        from planner.calibrate.endpoint import add_endpoint_arguments
    except ImportError:
        add_endpoint_arguments = None
    if add_endpoint_arguments is not None:
        add_endpoint_arguments(p)
    p.set_defaults(func=run)


def _check_args(args) -> None:
    from planner.errors import PlannerError

    if args.temperature is not None and not 0 <= args.temperature <= 5:
        raise PlannerError(f"--temperature must be in [0, 5], got {args.temperature}")
    if not 0 < args.top_p <= 1:
        raise PlannerError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.tp is not None and not 1 <= args.tp <= 64:
        raise PlannerError(f"--tp must be in 1..64, got {args.tp}")
    if args.threads is not None and args.threads < 1:
        raise PlannerError("--threads must be >= 1")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise PlannerError("--max-seconds must be positive")
    if args.memory_gb is not None and not args.memory_gb > 0:
        raise PlannerError("--memory-gb must be positive")
    _check_modes(args)


def _check_modes(args) -> None:
    """Flags of another source are refused, not silently ignored (issue 17: contradictory flags)."""
    from planner.errors import PlannerError

    def given(*names):
        return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n, None) not in (None, False)]

    endpoint = getattr(args, "endpoint", None) is not None
    model_run = given("gpu", "cpu", "accuracy", "threads", "max_seconds", "load_meter") + \
        (["--clock"] if args.clock != "wall" else []) + (["--dtype"] if args.dtype != "auto" else [])
    if endpoint and args.from_points:
        raise PlannerError("--endpoint and --from-points contradict: a profile comes from one source")
    if args.from_points:
        extra = given("model", "quick", "prompts") + model_run
        if extra:
            raise PlannerError(f"--from-points runs no model: {', '.join(extra)} does not apply; drop it")
        if args.memory_gb is not None and args.base_profile:
            raise PlannerError("--memory-gb and --base-profile contradict: the base profile's hardware is kept")
    elif endpoint:
        extra = given("acceptance_csv", "base_profile", "draft_config") + model_run
        if extra:
            raise PlannerError(f"--endpoint measures a server: {', '.join(extra)} does not apply; drop it")
    else:
        extra = given("acceptance_csv", "base_profile", "model_config", "draft_config", "memory_gb", "hardware")
        if extra:
            raise PlannerError(f"{', '.join(extra)} belongs to --from-points (or --endpoint); on-device "
                               "calibration measures it")


def run(args) -> int:
    """Translate the namespace once into the source's typed settings, measure, then the one save path."""
    from planner.calibrate.output import save
    from planner.errors import PlannerError
    from planner.profile.writer import check_writable

    _check_args(args)
    out = check_writable(args.output)
    pid = args.id or out.stem
    command = "planner calibrate " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["calibrate"] else [])
    if getattr(args, "endpoint", None) is not None:  # an empty --endpoint is an error, not on-device calibration
        if not args.endpoint.strip():
            raise PlannerError("--endpoint is empty: give the server's URL, e.g. http://localhost:8000")
        from planner.calibrate.endpoint.measure import measure_endpoint

        prof = save(measure_endpoint(_endpoint_run(args, pid)), out)
        print(f"wrote {out}: {prof.id} (endpoint {args.endpoint})")
        return 0
    if args.from_points:
        from planner.calibrate.from_points import fit_points
        from planner.calibrate.settings import PointsRun

        run_ = PointsRun(args.from_points, str(args.output), args.base_profile, args.tp, args.model_config,
                         args.draft_config, args.acceptance_csv, args.temperature, args.memory_gb, args.hardware,
                         pid, args.description, command)
        prof = save(fit_points(run_), out)
        fit = prof.raw["calibration"]["fit"]["target"]
        print(f"wrote {out}: {prof.id}; target step fit median error {fit['median_rel_error']:.1%}, "
              f"p90 {fit['p90_rel_error']:.1%} over {fit['n_points']} points")
        return 0
    if not args.model:
        raise PlannerError("give --model PATH_OR_PRESET (e.g. smollm2-135m), or --from-points FILE.csv")
    from planner.calibrate.device import measure_device
    from planner.calibrate.progress import Progress, fmt_s
    from planner.calibrate.settings import for_run, total_budget

    run_ = _device_run(args, pid, command)
    if args.scorer_model and not os.path.isdir(args.scorer_model):
        raise PlannerError(f"--scorer-model {args.scorer_model}: no such folder (give a reward model's folder)")
    s = for_run(args.quick, args.max_seconds)
    progress = Progress(total_budget(s) + 20, quiet=args.quiet)
    raw: dict = {}
    try:
        measured = measure_device(run_, s, progress, keep=raw)
        if args.scorer_model:  # the reward model's scoring forward on the same device (planner/calibrate/scorer.py)
            from planner.calibrate.scorer import measure_scorer

            measured.parts.scorer = measure_scorer(args.scorer_model, run_.device, args.dtype)
        prof = save(measured, out)
    except BaseException as e:  # minutes of measurements survive a failed fit, a bad profile or Ctrl-C
        from planner.calibrate.device import keep_raw

        saved = keep_raw(out, raw)
        if not saved:
            raise
        if isinstance(e, PlannerError):
            raise PlannerError(f"{e}{saved}") from None
        if isinstance(e, Exception):
            raise PlannerError(f"calibration failed after measuring ({type(e).__name__}: {e}){saved}") from None
        print(f"planner calibrate:{saved}", file=sys.stderr)
        raise
    fit = prof.raw["calibration"]["fit"]["target"]
    progress.done(f"done in {fmt_s(progress.elapsed())}")
    acc = f"; alpha_1 {prof.acceptance.alpha[0]:.2f}" if prof.acceptance else ""
    print(f"wrote {out}: {prof.id}; target step fit median error {fit['median_rel_error']:.1%}, p90 "
          f"{fit['p90_rel_error']:.1%} over {fit['n_points']} points{acc}")
    return 0


def _device_run(args, pid: str, command: str):
    """The on-device settings, with every cross-flag rule checked before anything loads."""
    from pathlib import Path

    from planner.calibrate.settings import DeviceRun
    from planner.errors import PlannerError

    if args.tp not in (None, 1):
        raise PlannerError("on-device calibration measures one device; --tp applies to --from-points/--endpoint")
    device, threads = _device(args), args.threads
    if args.clock == "cpu":
        if device != "cpu":
            raise PlannerError("--clock cpu times the CPU thread; GPU work is asynchronous: use --clock wall")
        if threads not in (None, 1):
            raise PlannerError("--clock cpu needs --threads 1 (other threads' CPU time would not be counted)")
        threads = 1
    if args.prompts and args.prompts != "math500" and not Path(args.prompts).is_file():
        raise PlannerError(f"calibration prompts not found: {args.prompts}")
    return DeviceRun(args.model, args.draft, device, args.dtype, 0.7 if args.temperature is None else args.temperature,
                     args.top_p, args.prompts, args.accuracy, threads, args.clock, args.load_meter, args.seed, 1,
                     pid, args.description, command)


def _endpoint_run(args, pid: str | None):
    from planner.calibrate.settings import EndpointRun

    return EndpointRun(args.endpoint, args.model, args.quick, float(getattr(args, "timeout", None) or 120),
                       args.prompts, args.model_config, args.hardware, getattr(args, "launch_args", None),
                       0.7 if args.temperature is None else args.temperature, args.top_p or 1.0,
                       batches=tuple(args.batches) if getattr(args, "batches", None) else None,
                       memory_gb=args.memory_gb, id=pid, output=str(args.output))


def _device(args) -> str:
    from planner.errors import PlannerError

    if args.gpu:
        import torch

        if not torch.cuda.is_available():
            raise PlannerError(f"--gpu: no CUDA device is visible (torch {torch.__version__}"
                               f"{', built without CUDA' if torch.version.cuda is None else ''}); use --cpu")
        return "cuda"
    return "cpu"
