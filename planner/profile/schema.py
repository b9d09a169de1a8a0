"""Typed, validated profile schema `tts-profile/1` (documented in docs/profile.md).

Validation turns any malformed field into a PlannerError naming the JSON path, so a user with a broken
profile sees one line such as `profile x.json: hardware.mem_bw_GBps must be a positive number`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from planner.profile.draft_spec import Acceptance, DraftSpec, HeadSpec
from planner.profile.reader import _Reader
from planner.profile.sections import Hardware, ModelArch, PrefillCoeffs, PrefillSharing, ScorerSpec, StepCoeffs

SCHEMA = "tts-profile/1"
LENGTH_KINDS = ("lognormal", "empirical")
ACCURACY_KINDS = ("parametric", "bank", "none")  # none: latency-only (no accuracy source)
# The sections live in sections.py and draft_spec.py; importers use this module as the schema's one entry point.
__all__ = ["SCHEMA", "Profile", "Hardware", "ModelArch", "StepCoeffs", "PrefillCoeffs", "PrefillSharing",
           "DraftSpec", "HeadSpec", "Acceptance", "LengthSpec", "AccuracySpec", "ScorerSpec"]


@dataclass(frozen=True)
class LengthSpec:
    """Generated tokens per branch. lognormal(median, sigma) truncated to [min, max], or empirical tokens;
    between_share (0 if absent) couples the branches of one problem, within_shape (0 = normal if absent) skews
    the spread of one problem's branches (planner/model/lengths.py)."""

    kind: str
    median_tokens: float | None = None
    sigma: float | None = None
    min_tokens: int = 1
    max_tokens: int = 4096
    tokens: tuple[float, ...] | None = None
    between_share: float | None = None   # rho: share of log-length variance shared by a problem's branches
    within_shape: float | None = None    # s: skew of a problem's own branch lengths (0/None: normal)

    @staticmethod
    def read(r: _Reader) -> "LengthSpec":
        kind = r.str_("kind", choices=LENGTH_KINDS)
        rho = r.num("between_share", None, lo=0.0, hi=0.95)
        shape = r.num("within_shape", None, lo=0.0, hi=1.0)
        if kind == "lognormal":
            spec = LengthSpec(kind, r.num("median_tokens", positive=True), r.num("sigma", positive=True),
                              r.int_("min_tokens", 1), r.int_("max_tokens", 4096), between_share=rho,
                              within_shape=shape)
        else:
            toks = r.nums("tokens", lo=1.0, min_len=2)
            spec = LengthSpec(kind, min_tokens=int(min(toks)), max_tokens=int(max(toks)), tokens=tuple(toks),
                              between_share=rho, within_shape=shape)
        if spec.min_tokens > spec.max_tokens:
            r.fail("min_tokens", "exceeds max_tokens")
        return spec


@dataclass(frozen=True)
class AccuracySpec:
    """parametric: per-problem p ~ Beta(beta_a, beta_b); of the wrong mass a share `wrong_mode_share` goes to one
    recurring wrong answer, the rest are unique answers. bank: a sample-bank JSONL (path relative to the profile).

    Optional (parametric; absent = the documented defaults of planner/accuracy/link.py, docs/accuracy.md):
    `sample_size` problems behind the published numbers (standard errors), `difficulty_length_corr` (hard
    problems run long: copula correlation of a problem's difficulty with its length effect) and
    `wrong_length_shift` (within a problem, wrong branches run this many within-problem SDs longer)."""

    kind: str
    beta_a: float | None = None
    beta_b: float | None = None
    wrong_mode_share: float = 0.5
    bank_path: str | None = None
    bank_format: str = "tts-bank"
    source: str | None = None
    dataset: str | None = None
    sample_size: int | None = None
    difficulty_length_corr: float | None = None
    wrong_length_shift: float | None = None

    @staticmethod
    def read(r: _Reader) -> "AccuracySpec":
        kind = r.str_("kind", choices=ACCURACY_KINDS)
        if kind == "parametric":
            return AccuracySpec(kind, r.num("beta_a", positive=True), r.num("beta_b", positive=True),
                                r.num("wrong_mode_share", 0.5, lo=0.0, hi=1.0), source=r.str_("source", None),
                                dataset=r.str_("dataset", None), sample_size=r.int_("sample_size", None),
                                difficulty_length_corr=r.num("difficulty_length_corr", None, lo=-0.95, hi=0.95),
                                wrong_length_shift=r.num("wrong_length_shift", None, lo=-1.5, hi=1.5))
        if kind == "none":  # a derived profile of a model with no accuracy source: latency-only
            return AccuracySpec(kind, source=r.str_("source", None), dataset=r.str_("dataset", None))
        return AccuracySpec(kind, bank_path=r.str_("path"), bank_format=r.str_("format", "tts-bank"),
                            source=r.str_("source", None), dataset=r.str_("dataset", None))


@dataclass(frozen=True)
class Profile:
    id: str
    description: str
    provenance: dict
    hardware: Hardware
    model: ModelArch
    step: StepCoeffs
    prefill: PrefillCoeffs
    draft: DraftSpec
    acceptance: Acceptance | None
    lengths: LengthSpec
    accuracy: AccuracySpec
    prompt_tokens: int = 200
    temperature: float = 0.7
    top_p: float = 1.0
    prefill_sharing: PrefillSharing = PrefillSharing()  # `serving.prefill_sharing` in the JSON
    scorer: ScorerSpec | None = None    # reward model scoring best-of-N answers (absent: scoring is free)
    origin: str = field(default="<memory>", compare=False)  # where it was loaded from (file path or name)
    raw: dict = field(default_factory=dict, compare=False, repr=False)  # the JSON as read (extra keys kept)

    def to_dict(self) -> dict:
        """The profile as JSON data; round-trips through from_dict (raw points and notes kept)."""
        return dict(self.raw) if self.raw else _dump(self)

    @staticmethod
    def from_dict(data: Any, origin: str = "<memory>") -> "Profile":
        r = _Reader(data, "", origin)
        schema = r.str_("schema")
        if schema != SCHEMA:
            r.fail("schema", f"is {schema!r}; this planner reads {SCHEMA!r}")
        prov = r.sub("provenance")
        kind = prov.str_("kind", choices=("measured", "derived"))
        if kind == "measured":
            for key in ("device", "date"):
                prov.str_(key)
        else:
            if not isinstance(prov.d.get("sources"), list) or not prov.d["sources"]:
                prov.fail("sources", "must list the datasheet/paper numbers used for a derived profile")
        step = r.sub("step")
        draft = DraftSpec.read(r.sub("draft", optional=True), step)
        acc = Acceptance.read(r.sub("acceptance", optional=True))
        if draft.kind != "none" and acc is None:
            r.fail("acceptance", f"is required when draft.kind is {draft.kind!r}")
        return Profile(
            id=r.str_("id"), description=r.str_("description", ""), provenance=dict(prov.d),
            hardware=Hardware.read(r.sub("hardware")), model=ModelArch.read(r.sub("model")),
            step=StepCoeffs.read(step.sub("target")), prefill=PrefillCoeffs.read(r.sub("prefill")),
            draft=draft, acceptance=acc, lengths=LengthSpec.read(r.sub("lengths")),
            accuracy=AccuracySpec.read(r.sub("accuracy")), prompt_tokens=r.int_("prompt_tokens", 200),
            temperature=r.num("temperature", 0.7, nonneg=True), top_p=r.num("top_p", 1.0, lo=0.0, hi=1.0),
            prefill_sharing=_sharing(r), scorer=ScorerSpec.read(r.sub("scorer", optional=True)), origin=origin,
            raw=dict(data))


def _sharing(r: _Reader) -> PrefillSharing:
    serving = r.sub("serving", optional=True)
    return PrefillSharing.read(serving.sub("prefill_sharing", optional=True) if serving else None)


def _dump(p: Profile) -> dict:
    def clean(x):
        return {k: v for k, v in asdict(x).items() if v is not None} if x is not None else None

    step = {"target": clean(p.step)}
    draft = {"kind": p.draft.kind, "name": p.draft.name}
    if p.draft.cost != "priced":
        draft["cost"] = p.draft.cost
    if p.draft.kind == "model":  # a drafter measured inside the step (cost in_step) may have neither
        if p.draft.arch is not None:
            draft["arch"] = clean(p.draft.arch)
        if p.draft.step is not None:
            step["draft"] = clean(p.draft.step)
    if p.draft.head is not None:
        draft["head"] = clean(p.draft.head)
        if p.draft.step is not None:
            step["draft"] = clean(p.draft.step)
    if p.draft.tree is not None:
        draft["tree"] = {"topk": list(p.draft.tree.topk), **({"tokens": p.draft.tree.tokens}
                                                            if p.draft.tree.tokens else {})}
    acc = clean(p.accuracy)
    if p.accuracy.kind == "bank":
        acc = {"kind": "bank", "path": p.accuracy.bank_path, "format": p.accuracy.bank_format,
               **({"source": p.accuracy.source} if p.accuracy.source else {})}
    return {"schema": SCHEMA, "id": p.id, "description": p.description, "provenance": p.provenance,
            "hardware": clean(p.hardware), "model": clean(p.model), "step": step, "prefill": clean(p.prefill),
            "draft": draft, "acceptance": clean(p.acceptance), "lengths": clean(p.lengths), "accuracy": acc,
            "prompt_tokens": p.prompt_tokens, "temperature": p.temperature, "top_p": p.top_p,
            **({"serving": {"prefill_sharing": clean(p.prefill_sharing)}}
               if p.prefill_sharing != PrefillSharing() else {}),
            **({"scorer": {k: clean(v) if hasattr(v, "__dataclass_fields__") else v
                           for k, v in vars(p.scorer).items() if v is not None}} if p.scorer else {})}
