"""Typed, validated profile schema `tts-profile/1` (documented in docs/profile.md).

Validation turns any malformed field into a PlannerError naming the JSON path, so a user with a broken
profile sees one line such as `profile x.json: hardware.mem_bw_GBps must be a positive number`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from planner.checks import ABSURD
from planner.errors import PlannerError
from planner.profile import quant
from planner.profile.accept_length import alpha_from_lengths

SCHEMA = "tts-profile/1"
DRAFT_KINDS = ("model", "ngram", "eagle", "eagle3", "mtp", "none")
HEAD_KINDS = ("eagle", "eagle3", "mtp")  # trained heads on the target's hidden states (planner/model/drafts.py)
LENGTH_KINDS = ("lognormal", "empirical")
ACCURACY_KINDS = ("parametric", "bank", "none")  # none: latency-only (no accuracy source)


class _Reader:
    """Pulls typed fields out of a dict and reports errors with a dotted path."""

    def __init__(self, data: Any, path: str, origin: str):
        if not isinstance(data, dict):
            raise PlannerError(f"profile {origin}: {path or 'top level'} must be a JSON object")
        self.d, self.path, self.origin = data, path, origin

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, msg: str):
        raise PlannerError(f"profile {self.origin}: {self._where(key)} {msg}")

    def has(self, key: str) -> bool:
        return self.d.get(key) is not None

    def sub(self, key: str, optional: bool = False) -> "_Reader | None":
        if key not in self.d or self.d[key] is None:
            if optional:
                return None
            self.fail(key, "is missing")
        return _Reader(self.d[key], self._where(key), self.origin) if isinstance(self.d[key], dict) else self.fail(
            key, "must be a JSON object")

    def num(self, key: str, default: Any = ..., *, positive: bool = False, nonneg: bool = False,
            lo: float | None = None, hi: float | None = None) -> float:
        if key not in self.d or self.d[key] is None:
            if default is ...:
                self.fail(key, "is missing")
            return default
        v = self.d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(key, f"must be a finite number, got {v!r}")
        if hi is None and abs(v) > ABSURD:  # no count, rate or size in a profile is this large: a typo
            self.fail(key, f"is absurdly large ({v:g}); expected a magnitude below {ABSURD:g}")
        if positive and v <= 0:
            self.fail(key, f"must be positive, got {v!r}")
        if nonneg and v < 0:
            self.fail(key, f"must be >= 0, got {v!r}")
        if lo is not None and v < lo or hi is not None and v > hi:
            self.fail(key, f"must be in [{lo}, {hi}], got {v!r}")
        return float(v)

    def int_(self, key: str, default: Any = ..., *, positive: bool = True) -> int:
        v = self.num(key, default, positive=positive)
        if v is None:
            return v
        if v != int(v):
            self.fail(key, f"must be an integer, got {v!r}")
        return int(v)

    def str_(self, key: str, default: Any = ..., choices: tuple[str, ...] | None = None) -> str:
        if key not in self.d or self.d[key] is None:
            if default is ...:
                self.fail(key, "is missing")
            return default
        v = self.d[key]
        if not isinstance(v, str) or not v:
            self.fail(key, f"must be a non-empty string, got {v!r}")
        if choices and v not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def nums(self, key: str, default: Any = ..., *, lo: float | None = None, hi: float | None = None,
             min_len: int = 1) -> list[float]:
        if key not in self.d or self.d[key] is None:
            if default is ...:
                self.fail(key, "is missing")
            return default
        v = self.d[key]
        if not isinstance(v, list) or len(v) < min_len:
            self.fail(key, f"must be a list of at least {min_len} numbers")
        out = []
        for i, x in enumerate(v):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or abs(x) > ABSURD:
                self.fail(f"{key}[{i}]", f"must be a finite number below {ABSURD:g}, got {x!r}")
            if lo is not None and x < lo or hi is not None and x > hi:
                self.fail(f"{key}[{i}]", f"must be in [{lo}, {hi}], got {x!r}")
            out.append(float(x))
        return out


@dataclass(frozen=True)
class Hardware:
    name: str
    mem_bw_GBps: float          # peak (datasheet) or measured memory bandwidth per device
    bf16_tflops: float          # peak dense bf16 per device
    memory_GB: float
    gpus: int = 1               # devices in the deployment
    tensor_parallel: int = 1    # TP degree the step coefficients describe
    interconnect_GBps: float | None = None  # per-direction link bandwidth for TP all-reduce
    fp8_tflops: float | None = None   # dense fp8 tensor-core peak (absent: the part has no fp8 path)
    int8_tops: float | None = None    # dense int8 tensor-core peak
    # Equally likely factors by which a whole request ran slower or faster than the step model predicts, seen
    # during calibration (a shared CPU's bursts of load, throttling). Latency = model x factor; absent: 1.
    speed_factors: tuple[float, ...] | None = None

    @staticmethod
    def read(r: _Reader) -> "Hardware":
        sf = r.nums("speed_factors", None, lo=0.01, hi=100.0)
        hw = Hardware(r.str_("name"), r.num("mem_bw_GBps", positive=True), r.num("bf16_tflops", positive=True),
                      r.num("memory_GB", positive=True), r.int_("gpus", 1), r.int_("tensor_parallel", 1),
                      r.num("interconnect_GBps", None, positive=True),
                      fp8_tflops=r.num("fp8_tflops", None, positive=True),
                      int8_tops=r.num("int8_tops", None, positive=True), speed_factors=tuple(sf) if sf else None)
        if hw.tensor_parallel > hw.gpus:
            r.fail("tensor_parallel", f"({hw.tensor_parallel}) exceeds gpus ({hw.gpus})")
        return hw


@dataclass(frozen=True)
class ModelArch:
    name: str
    params: float               # parameter count (embeddings included)
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    dtype_bytes: float = 2.0
    hf_id: str | None = None
    max_context: int | None = None
    # Quantisation (planner/profile/quant.py; docs/profile.md). Absent: weights and KV cache in dtype_bytes, the
    # behaviour of every profile written before these fields. dtype_bytes stays the activation format.
    weight_dtype: str | None = None        # bf16 | fp16 | fp8 | int8 | int4
    weight_group_size: int | None = None   # weights sharing one fp16 scale (int4 AWQ/GPTQ: 128)
    weight_zero_point: bool | None = None  # asymmetric: one zero point per group as well
    quantized_params: float | None = None  # weights in the quantised linear layers (the rest stay dtype_bytes)
    kv_dtype: str | None = None            # KV-cache format, independent of the weights
    compute_dtype: str | None = None       # tensor-core path of the GEMMs: bf16 | fp8 | int8

    @property
    def weight_bytes(self) -> float:
        if self.weight_dtype is None:
            return self.params * self.dtype_bytes
        q = self.params if self.quantized_params is None else self.quantized_params
        bpp = quant.bytes_per_param(self.weight_dtype, self.weight_group_size, bool(self.weight_zero_point))
        return q * bpp + (self.params - q) * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V, every layer, for one token of one sequence."""
        elem = quant.BYTES[self.kv_dtype] if self.kv_dtype else self.dtype_bytes
        return 2.0 * self.layers * self.kv_heads * self.head_dim * elem

    @staticmethod
    def read(r: _Reader) -> "ModelArch":
        wd = r.str_("weight_dtype", None, choices=quant.WEIGHT_DTYPES)
        zp = r.d.get("weight_zero_point")
        if zp is not None and not isinstance(zp, bool):
            r.fail("weight_zero_point", f"must be true or false, got {zp!r}")
        arch = ModelArch(r.str_("name"), r.num("params", positive=True), r.int_("layers"), r.int_("hidden"),
                         r.int_("heads"), r.int_("kv_heads"), r.int_("head_dim"), r.int_("vocab"),
                         r.num("dtype_bytes", 2.0, positive=True), r.str_("hf_id", None),
                         r.int_("max_context", None), wd, r.int_("weight_group_size", None), zp,
                         r.num("quantized_params", None, positive=True),
                         r.str_("kv_dtype", None, choices=quant.KV_DTYPES),
                         r.str_("compute_dtype", None, choices=tuple(quant.HW_KEY)))
        if arch.quantized_params is not None and arch.quantized_params > arch.params:
            r.fail("quantized_params", f"({arch.quantized_params:g}) exceeds params ({arch.params:g})")
        return arch


@dataclass(frozen=True)
class StepCoeffs:
    """Coefficients of t(B, q, L) = t0 + [q > 1] verify_s + join_p(W/weight_bw + B*L*kv/kv_bw, 2*P*B*q/flops)
    (+ TP all-reduce), where join_p(m, c) = (m^p + c^p)^(1/p) with p = roofline_p, and max(m, c) when
    roofline_p is absent (the pure roofline; profiles written before it existed keep that behaviour)."""

    t0_s: float
    weight_bw_GBps: float
    kv_bw_GBps: float
    tflops: float
    allreduce_s: float = 0.0    # per layer per step when tensor_parallel > 1
    fit_rel_error: float | None = None  # median |relative residual| of the fit, when fitted
    verify_s: float | None = None  # fixed extra time of a verify step (q > 1): rejection sampling, KV rollback
    # How sharply memory and compute time join: 1 = they add, large = max. Real kernels pay for query width
    # well before the roofline knee (docs/sources.md, "Speculation x batch"); absent = max (hard roofline).
    roofline_p: float | None = None

    @staticmethod
    def read(r: _Reader) -> "StepCoeffs":
        return StepCoeffs(r.num("t0_s", nonneg=True), r.num("weight_bw_GBps", positive=True),
                          r.num("kv_bw_GBps", positive=True), r.num("tflops", positive=True),
                          r.num("allreduce_s", 0.0, nonneg=True), r.num("fit_rel_error", None, nonneg=True),
                          r.num("verify_s", None, nonneg=True), r.num("roofline_p", None, lo=1.0, hi=64.0))


@dataclass(frozen=True)
class PrefillCoeffs:
    """Prefill of the shared prompt (computed once, then fanned out): t = t0 + s_per_token * prompt_tokens."""

    t0_s: float
    s_per_token: float

    @staticmethod
    def read(r: _Reader) -> "PrefillCoeffs":
        return PrefillCoeffs(r.num("t0_s", nonneg=True), r.num("s_per_token", nonneg=True))


SHARING_MODES = ("once", "blocks", "none")


@dataclass(frozen=True)
class PrefillSharing:
    """How the engine prefills the prompt of a request with N branches (docs/serving.md §4). `once`: one prefill
    fanned out to every branch (this project's engine; the default, which profiles written before this field
    keep). `blocks`: vLLM's prefix cache shares only *full* KV blocks of `block_size` tokens between the N
    children and never serves a prompt's last token from cache, so each further branch recomputes the tail
    P - block_size*floor((P-1)/block_size) (the whole prompt when it is shorter than a block). `none`: prefix
    caching off, every branch prefills the whole prompt."""

    mode: str = "once"
    block_size: int | None = None
    prefix_caching: bool | None = None
    source: str | None = None       # where the setting came from (server metrics, launch args, default)

    @staticmethod
    def read(r: _Reader | None) -> "PrefillSharing":
        if r is None:
            return PrefillSharing()
        mode = r.str_("mode", "once", choices=SHARING_MODES)
        caching = r.d.get("prefix_caching")
        if caching is not None and not isinstance(caching, bool):
            r.fail("prefix_caching", f"must be true or false, got {caching!r}")
        block = r.int_("block_size", None)
        if mode == "blocks" and block is None:
            r.fail("block_size", "is missing (mode 'blocks' shares whole KV blocks of this many tokens)")
        if mode == "blocks" and caching is False:
            r.fail("mode", "is 'blocks' but prefix_caching is false: without the cache every branch prefills "
                           "the whole prompt (use mode 'none')")
        return PrefillSharing(mode, block, caching, r.str_("source", None))


@dataclass(frozen=True)
class HeadSpec:
    """A draft head (EAGLE, EAGLE-3, MTP): decoder layers at the target's hidden size on its hidden states."""

    layers: int = 1
    draft_vocab: int | None = None  # LM-head rows (EAGLE-3 heads often 32000); absent: the target's vocab
    params: float | None = None     # the head's own parameter count, when its config gives it
    hf_id: str | None = None        # the checkpoint the engines load (vLLM `model`, SGLang draft path)

    @staticmethod
    def read(r: _Reader | None) -> "HeadSpec":
        if r is None:
            return HeadSpec()
        return HeadSpec(r.int_("layers", 1), r.int_("draft_vocab", None), r.num("params", None, positive=True),
                        r.str_("hf_id", None))


@dataclass(frozen=True)
class TreeSpec:
    """A tree draft: top-k children per node at each depth (one number: every depth) and a budget of draft
    tokens per round (absent: the full tree); the verify step checks tokens + 1 positions."""

    topk: tuple[int, ...] = (1,)
    tokens: int | None = None

    @staticmethod
    def read(r: _Reader | None) -> "TreeSpec | None":
        if r is None:
            return None
        raw = r.d.get("topk")
        ks = [raw] if not isinstance(raw, list) else raw
        if raw is None or not ks or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64
                                        for k in ks):
            r.fail("topk", f"must be an integer in [1, 64] or a list of them (one per depth), got {raw!r}")
        return TreeSpec(tuple(ks), r.int_("tokens", None))


@dataclass(frozen=True)
class DraftSpec:
    kind: str                   # model | ngram | eagle | eagle3 | mtp | none
    name: str | None = None
    arch: ModelArch | None = None
    step: StepCoeffs | None = None  # step time of the draft model / head (head absent: the target's); ngram ~0
    head: HeadSpec | None = None    # eagle | eagle3 | mtp
    tree: TreeSpec | None = None    # absent: a chain of K drafts

    @staticmethod
    def read(r: _Reader | None, step: _Reader) -> "DraftSpec":
        if r is None:
            return DraftSpec("none")
        kind = r.str_("kind", choices=DRAFT_KINDS)
        arch = ModelArch.read(r.sub("arch")) if kind == "model" else None
        coeffs = StepCoeffs.read(step.sub("draft")) if kind == "model" or (
            kind in HEAD_KINDS and step.has("draft")) else None
        head = HeadSpec.read(r.sub("head", optional=True)) if kind in HEAD_KINDS else None
        tree = TreeSpec.read(r.sub("tree", optional=True))
        if tree is not None and kind in ("ngram", "none"):
            r.fail("tree", f"needs a drafter that scores candidates (model, eagle, eagle3, mtp), not {kind!r}")
        name = r.str_("name", arch.name if arch else (head.hf_id if head and head.hf_id else kind))
        return DraftSpec(kind, name, arch, coeffs, head, tree)


@dataclass(frozen=True)
class Acceptance:
    """alpha[i-1] = P(draft token i accepted | tokens 1..i-1 accepted), at `temperature`."""

    temperature: float
    alpha: tuple[float, ...]
    ci_low: tuple[float, ...] | None = None
    ci_high: tuple[float, ...] | None = None
    draft_rate: float = 1.0  # share of decode rounds that carry a draft (n-gram lookups can find no match)
    # K -> alpha_1..alpha_K measured in rounds of exactly K drafts. Acceptance can depend on K when the text
    # has a rhythm that rounds of K+1 tokens fall into (the miniature world's chains; code indentation); where
    # a K was measured on its own, its tokens per round come from here, other K from `alpha`.
    by_draft_len: dict | None = None

    @staticmethod
    def read(r: _Reader | None) -> "Acceptance | None":
        if r is None:
            return None
        if r.has("length") and not r.has("alpha"):  # published acceptance lengths {K: tau} -> alpha
            sub = r.sub("length")
            taus = {}
            for key in sub.d:
                if not key.isdigit() or not 1 <= int(key) <= 64:
                    sub.fail(key, "must be a draft length K in 1..64 (the key of a published acceptance length)")
                taus[int(key)] = sub.num(key, lo=1.0, hi=65.0)
            if not taus:
                r.fail("length", "must give at least one {K: acceptance length}")
            alpha = tuple(alpha_from_lengths(taus, sub.fail))
        else:
            alpha = tuple(r.nums("alpha", lo=0.0, hi=1.0))
        lo = r.nums("ci_low", None, lo=0.0, hi=1.0)
        hi = r.nums("ci_high", None, lo=0.0, hi=1.0)
        by_k = None
        if r.has("by_draft_len"):
            sub = r.sub("by_draft_len")
            by_k = {}
            for key in sub.d:
                if not key.isdigit() or int(key) < 1:
                    sub.fail(key, "must be a draft length (a positive integer)")
                a = sub.nums(key, lo=0.0, hi=1.0)
                if len(a) != int(key):
                    sub.fail(key, f"must list {key} acceptance rates (one per draft position), got {len(a)}")
                by_k[int(key)] = tuple(a)
        return Acceptance(r.num("temperature", nonneg=True), alpha, tuple(lo) if lo else None,
                          tuple(hi) if hi else None, r.num("draft_rate", 1.0, lo=0.0, hi=1.0), by_k or None)


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
            prefill_sharing=_sharing(r), origin=origin, raw=dict(data))


def _sharing(r: _Reader) -> PrefillSharing:
    serving = r.sub("serving", optional=True)
    return PrefillSharing.read(serving.sub("prefill_sharing", optional=True) if serving else None)


def _dump(p: Profile) -> dict:
    def clean(x):
        return {k: v for k, v in asdict(x).items() if v is not None} if x is not None else None

    step = {"target": clean(p.step)}
    draft = {"kind": p.draft.kind, "name": p.draft.name}
    if p.draft.kind == "model":
        draft["arch"] = clean(p.draft.arch)
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
               if p.prefill_sharing != PrefillSharing() else {})}
