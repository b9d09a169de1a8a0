"""Profile sections of the device and the target model: hardware, architecture, step and prefill coefficients,
and how a serving engine shares the prompt's prefill between branches (schema `tts-profile/1`)."""

from __future__ import annotations

from dataclasses import dataclass

from planner.profile import quant
from planner.profile.reader import _Reader


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
class ScorerSpec:
    """A reward model that scores the N answers of best-of-N / weighted voting after the branches finish: one
    prefill over prompt + answer tokens at batch N (planner/model/scoring.py). `prefill` (measured by `planner
    calibrate --scorer-model`): t = t0_s + s_per_token * the batch's tokens. Else the step roofline of `arch` on
    `step` (absent: the target's coefficients, the same device). Absent section: scoring is free (as before)."""

    name: str
    arch: ModelArch | None = None
    step: StepCoeffs | None = None
    prefill: PrefillCoeffs | None = None
    model_id: str | None = None   # where the weights live (HF id or local directory), for the record

    @staticmethod
    def read(r: _Reader | None) -> "ScorerSpec | None":
        if r is None:
            return None
        arch, step, pre = (r.sub(k, optional=True) for k in ("arch", "step", "prefill"))
        if arch is None and pre is None:
            r.fail("arch", "is missing (give the reward model's architecture, or measured prefill coefficients "
                           "from `planner calibrate --scorer-model DIR`)")
        return ScorerSpec(r.str_("name"), ModelArch.read(arch) if arch else None,
                          StepCoeffs.read(step) if step else None, PrefillCoeffs.read(pre) if pre else None,
                          r.str_("model_id", None))
