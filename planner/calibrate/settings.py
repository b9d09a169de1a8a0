"""How much each calibration phase measures, for `--quick` and the full run.

Every phase also has a wall-clock budget: on a shared 2-core CPU a forward can take 5x longer than on an idle
one, and the run must still end in time (the profile records what was cut). Budgets are sized so that
`--quick` ends in <= 3 minutes and the full run in <= 15 minutes on this CPU with SmolLM2-135M (model loading
and the microbenchmarks included); on a GPU the same grids take far less than their budgets."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Settings:
    name: str
    batches: tuple[int, ...]          # target sweep: batch sizes (geometric)
    queries: tuple[int, ...]          # query widths q (K + 1 for K drafts)
    contexts: tuple[int, ...]         # context lengths L
    repeats: int                      # timed repeats per point and pass (median after outlier rejection)
    passes: int                       # passes over the grid (later ones while the sweep budget lasts)
    max_step_s: float                 # a (q, L) stops growing B after a forward this slow
    sweep_budget_s: float
    draft_batches: tuple[int, ...]
    draft_queries: tuple[int, ...]
    draft_budget_s: float
    prefill_lengths: tuple[int, ...]
    prefill_repeats: int
    prefill_budget_s: float
    acc_prompts: int                  # acceptance pass: prompts, tokens per branch, budget
    acc_max_tokens: int
    acc_budget_s: float
    draft_len: int                    # K used to measure acceptance per position 1..K
    gen_prompts: int                  # length / accuracy pass (no speculation)
    gen_branches: int                 # branches per prompt (both passes)
    gen_max_tokens: int
    gen_budget_s: float
    bandwidth_MB: int


QUICK = Settings("quick", batches=(1, 4, 16, 64), queries=(1, 4, 9), contexts=(64, 512), repeats=3, passes=1, max_step_s=1.5,
                 sweep_budget_s=60, draft_batches=(1, 4, 16), draft_queries=(1,), draft_budget_s=15,
                 prefill_lengths=(32, 256), prefill_repeats=1, prefill_budget_s=10, acc_prompts=1, acc_max_tokens=48,
                 acc_budget_s=25, draft_len=4, gen_prompts=2, gen_branches=4, gen_max_tokens=96, gen_budget_s=40,
                 bandwidth_MB=128)

FULL = Settings("full", batches=(1, 2, 4, 8, 16, 32, 64, 128, 256), queries=(1, 2, 3, 5, 9),
                contexts=(64, 256, 1024), repeats=3, passes=2, max_step_s=4.0, sweep_budget_s=300,
                draft_batches=(1, 2, 4, 8, 16, 32, 64), draft_queries=(1, 2), draft_budget_s=90,
                prefill_lengths=(16, 64, 256, 1024), prefill_repeats=2, prefill_budget_s=45, acc_prompts=3,
                acc_max_tokens=128, acc_budget_s=150, draft_len=8, gen_prompts=8, gen_branches=4,
                gen_max_tokens=512, gen_budget_s=300, bandwidth_MB=512)


def for_run(quick: bool, max_seconds: float | None = None) -> Settings:
    """The quick or full settings; with max_seconds, every phase budget is scaled down (never up) so the
    budgets add up to about max_seconds."""
    s = QUICK if quick else FULL
    if max_seconds is None or max_seconds >= total_budget(s):
        return s
    f = max_seconds / total_budget(s)
    return replace(s, sweep_budget_s=s.sweep_budget_s * f, draft_budget_s=s.draft_budget_s * f,
                   prefill_budget_s=s.prefill_budget_s * f, acc_budget_s=s.acc_budget_s * f,
                   gen_budget_s=s.gen_budget_s * f)


def total_budget(s: Settings) -> float:
    return s.sweep_budget_s + s.draft_budget_s + s.prefill_budget_s + s.acc_budget_s + s.gen_budget_s


@dataclass(frozen=True)
class DeviceRun:
    """What `planner calibrate --model M` measures, translated once from the command line (planner.commands)."""
    model: str
    draft: str | None = "ngram"       # PATH | ngram | layers:N | none
    device: str = "cpu"
    dtype: str = "auto"
    temperature: float = 0.7
    top_p: float = 1.0
    prompts: str | None = None        # JSONL file or None for math500
    accuracy: bool = False            # grade the samples and keep a sample bank
    threads: int | None = None
    clock: str = "wall"               # wall | cpu (calibrate.clock)
    load_meter: bool = False
    seed: int = 0
    tp: int = 1
    id: str = "profile"
    description: str | None = None
    command_line: str | None = None   # recorded in provenance


@dataclass(frozen=True)
class PointsRun:
    """`planner calibrate --from-points CSV`: step times measured elsewhere, fitted onto a base or a config."""
    points_csv: str
    output: str                       # the profile's path (a base profile's bank is re-expressed against it)
    base_profile: str | None = None
    tp: int | None = None
    model_config: str | None = None
    draft_config: str | None = None
    acceptance_csv: str | None = None
    temperature: float | None = None
    memory_gb: float | None = None
    hardware: str | None = None
    id: str = "profile"
    description: str | None = None
    command_line: str | None = None


@dataclass(frozen=True)
class RoundsRun:
    """Whole engine rounds through the executor (the closed loop's calibration): M samples per problem."""
    target: str                       # model folders
    draft: str
    template: str                     # prompt template the executor formats questions with
    samples: int = 16
    draft_lens: tuple[int, ...] = (0, 2, 4)   # K cycles over these, one per calibration problem
    temperature: float = 1.0
    threads: int = 1
    seed: int = 0
    id: str = "rounds"
    description: str = "whole-round calibration"


@dataclass(frozen=True)
class EndpointRun:
    """`planner calibrate --endpoint URL --model NAME`: a running OpenAI-compatible server, measured as it is."""
    endpoint: str
    model: str                        # the served model name
    quick: bool = False
    timeout: float = 120.0            # seconds per HTTP call
    prompts: str | None = None        # JSONL of questions; default: built-in arithmetic questions
    model_config: str | None = None   # config.json when the server's model folder is not local
    hardware: str | None = None
    launch_args: str | list | None = None  # the server's command line (speculative config, TP degree)
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int | None = None
    n: int | None = None              # branches per prompt for the lengths
    batches: tuple[int, ...] | None = None
    decode_tokens: int | None = None
    decode_repeats: int | None = None
    memory_gb: float | None = None
    gpus: int | None = None
    accuracy_bank: str | None = None  # a sample bank path to reference instead of the placeholder accuracy
    id: str | None = None
    output: str | None = None         # the profile's path: measurements so far go to OUTPUT.partial.json
