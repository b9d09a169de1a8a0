"""Public numbers behind the embedded (datasheet-derived) profiles, each with where it came from.

Pure data plus tiny helpers, stdlib only, no I/O. Every entry carries `sources` (URLs that were actually read,
or canonical vendor/model pages) or `"assumption": True` with a `reason`. docs/sources.md mirrors this file
as a table. Numbers are *derived, not measured*: a calibrated profile replaces them."""

from __future__ import annotations

# --- sources used more than once --------------------------------------------------------------------------
QWEN_BLOG = "https://qwenlm.github.io/blog/qwen2.5-llm/"  # model-card table + instruct MATH scores
QWEN_REPORT = "https://arxiv.org/abs/2412.15115"
TTS_1B = "https://arxiv.org/abs/2502.06703"  # "Can 1B LLM Surpass 405B LLM?", Table 5 (MATH-500)
TTS_1B_TABLE = "https://github.com/deep-diver/ai-paper-reviewer (content/paper-reviews/2502.06703/index.md, Table 5)"
SEED = "https://arxiv.org/abs/2505.19634"
SEED_ACL = "https://aclanthology.org/2025.findings-emnlp.928/"
SAMPLE_BANK = ("https://github.com/QwenLM/Qwen2.5-Math (evaluation/data/eval_rm_maj_example/math_cot_100.jsonl; "
               "copy in shared/data/samples/qwen25math_math_cot_100.jsonl)")


def _hf_config(repo: str) -> str:
    return f"https://huggingface.co/{repo}/blob/main/config.json"


# --- GPUs: per device, dense (no 2:4 sparsity) bf16 tensor-core peak; interconnect = per direction ------------
GPUS = {
    "h100-sxm": {"name": "NVIDIA H100 SXM5 80GB", "mem_bw_GBps": 3350, "bf16_tflops": 989, "memory_GB": 80,
                 "interconnect_GBps": 450, "interconnect": "NVLink 4, 900 GB/s total = 450 GB/s per direction",
                 "notes": "Datasheet lists 1,979 TFLOPS BF16 *with sparsity*; dense is half (989.4).",
                 "sources": ["https://www.nvidia.com/en-us/data-center/h100/",
                             "https://resources.nvidia.com/en-us-tensor-core/gtc22-whitepaper-hopper",
                             "https://glennklockwood.com/garden/processors/h100",
                             "https://archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html"]},
    "h200": {"name": "NVIDIA H200 SXM 141GB", "mem_bw_GBps": 4800, "bf16_tflops": 989, "memory_GB": 141,
             "interconnect_GBps": 450, "interconnect": "NVLink 4, 900 GB/s total = 450 GB/s per direction",
             "notes": "Same GH100 compute as H100 SXM (1,979 TFLOPS BF16 with sparsity); HBM3e 141 GB at 4.8 TB/s.",
             "sources": ["https://www.nvidia.com/en-us/data-center/h200/",
                         "https://aiwiki.ai/wiki/nvidia_h200/raw",
                         "https://raw.githubusercontent.com/mlcommons/inference_results_v4.1/main/closed/NVIDIA/"
                         "systems/H200-SXM-141GBx8_TRT_MaxQ.json"]},
    "h800": {"name": "NVIDIA H800 SXM5 80GB", "mem_bw_GBps": 3350, "bf16_tflops": 989, "memory_GB": 80,
             "interconnect_GBps": 200, "interconnect": "NVLink cut to 400 GB/s total = 200 GB/s per direction",
             "notes": "Export variant of H100 SXM: same die, memory and tensor throughput; NVLink and FP64 cut. "
                      "No NVIDIA datasheet was found in the searchable corpus: secondary sources only.",
             "sources": ["https://aiwiki.ai/wiki/nvidia_h800",
                         "https://www.philisun.com/technical-analysis/"
                         "nvidia-h800-vs-h100-a-technical-deep-dive-into-politically-defined-ai-chips"]},
    "a100-80gb": {"name": "NVIDIA A100 SXM4 80GB", "mem_bw_GBps": 2039, "bf16_tflops": 312, "memory_GB": 80,
                  "interconnect_GBps": 300, "interconnect": "NVLink 3, 600 GB/s total = 300 GB/s per direction",
                  "sources": ["https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                              "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
                              "https://glennklockwood.com/garden/processors/A100"]},
    "l40s": {"name": "NVIDIA L40S 48GB", "mem_bw_GBps": 864, "bf16_tflops": 362.05, "memory_GB": 48,
             "interconnect_GBps": 32, "interconnect": "PCIe Gen4 x16, 64 GB/s bidirectional; no NVLink",
             "notes": "Datasheet: BF16 362.05 TFLOPS dense, 733 with sparsity.",
             "sources": ["https://www.nvidia.com/en-us/data-center/l40s/",
                         "https://www.mullet.se/product.html?product_id=355414",
                         "https://www.itcreations.com/nvidia-gpu/nvidia-l40s-gpu-accelerator"]},
    "rtx4090": {"name": "NVIDIA GeForce RTX 4090 24GB", "mem_bw_GBps": 1008, "bf16_tflops": 165.2, "memory_GB": 24,
                "interconnect_GBps": 32, "interconnect": "PCIe Gen4 x16 (~32 GB/s per direction); no NVLink",
                "notes": "GeForce Ada runs BF16 with FP32 accumulate at half rate: 165.2 dense (330.3 sparse).",
                "sources": ["https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4090/",
                            "https://waredb.com/processor/nvidia-geforce-rtx-4090",
                            "https://www.thefpsreview.com/gpu-family/nvidia-geforce-rtx-4090-gpu-family-specifications",
                            "https://github.com/JustAResearcher/gpu-unlock-ada (stock BF16/FP32-acc: 165.5 TF/s)"]},
}


# --- Models: Qwen2.5 *-Instruct config.json; params computed exactly from the config (see param_count) --------
def _model(size, repo, layers, hidden, inter, heads, kv, vocab, tied, card_params):
    return {"name": f"Qwen2.5-{size}-Instruct", "hf_id": repo, "layers": layers, "hidden": hidden,
            "intermediate": inter, "heads": heads, "kv_heads": kv, "head_dim": hidden // heads, "vocab": vocab,
            "dtype_bytes": 2, "max_context": 32768, "tied_embeddings": tied, "card_params": card_params,
            "sources": [_hf_config(repo), QWEN_BLOG, QWEN_REPORT]}


MODELS = {
    "qwen2.5-0.5b": _model("0.5B", "Qwen/Qwen2.5-0.5B-Instruct", 24, 896, 4864, 14, 2, 151936, True, 0.49e9),
    "qwen2.5-1.5b": _model("1.5B", "Qwen/Qwen2.5-1.5B-Instruct", 28, 1536, 8960, 12, 2, 151936, True, 1.54e9),
    "qwen2.5-3b": _model("3B", "Qwen/Qwen2.5-3B-Instruct", 36, 2048, 11008, 16, 2, 151936, True, 3.09e9),
    "qwen2.5-7b": _model("7B", "Qwen/Qwen2.5-7B-Instruct", 28, 3584, 18944, 28, 4, 152064, False, 7.61e9),
    "qwen2.5-14b": _model("14B", "Qwen/Qwen2.5-14B-Instruct", 48, 5120, 13824, 40, 8, 152064, False, 14.7e9),
    "qwen2.5-32b": _model("32B", "Qwen/Qwen2.5-32B-Instruct", 64, 5120, 27648, 40, 8, 152064, False, 32.5e9),
}
MODEL_NOTES = ("max_context is config.json max_position_embeddings (32768); 7B/14B/32B reach 131072 with YaRN "
               "rope scaling (blog model card). The blog lists Qwen2.5-32B at 32.5B params, but the config "
               "arithmetic gives 32.76B (31.2B non-embedding vs the card's 31.0B); the other sizes match the "
               "card to its rounding.")


def param_count(m: dict) -> int:
    """Qwen2 decoder: q/k/v projections with bias, o-proj without, SwiGLU MLP (3 matrices), two RMSNorms per
    layer, final norm, embedding, and an lm_head unless tied."""
    h, kv_dim = m["hidden"], m["kv_heads"] * m["head_dim"]
    attn = h * h + h + 2 * (h * kv_dim + kv_dim) + h * h
    per_layer = attn + 3 * h * m["intermediate"] + 2 * h
    emb = m["vocab"] * h
    return m["layers"] * per_layer + h + emb * (1 if m["tied_embeddings"] else 2)


for _m in MODELS.values():  # exact count from the architecture; the card's rounded figure is kept alongside
    _m["params"] = param_count(_m)

# --- Drafts: same tokenizer family ---------------------------------------------------------------------------
DRAFT_FOR = {t: "qwen2.5-0.5b" for t in ("qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b")}
DRAFT_NOTES = ("All Qwen2.5 sizes share one byte-level BPE tokenizer (151,643 regular tokens + control tokens; "
               "Qwen2.5 report sec. 2), so the 0.5B model is a lossless draft for every larger size. The padded "
               "embedding rows differ (vocab_size 151936 for <=3B, 152064 for >=7B): engines that compare "
               "vocab_size must treat the extra rows as never-sampled padding.")

# --- Accuracy on MATH-500 (CoT, single sample) and majority voting -------------------------------------------
# (CoT, Major.) from arXiv 2502.06703 Table 5; MATH (full 5000-problem test) from the Qwen2.5 blog instruct tables.
_ACC = {"qwen2.5-0.5b": (0.316, 0.472, 0.344), "qwen2.5-1.5b": (0.544, 0.684, 0.552),
        "qwen2.5-3b": (0.640, 0.770, 0.659), "qwen2.5-7b": (0.768, 0.836, 0.755),
        "qwen2.5-14b": (0.802, 0.856, 0.800), "qwen2.5-32b": (0.824, 0.870, 0.831)}
ACCURACY = {
    key: {"dataset": "MATH-500", "pass1": cot, "maj": {}, "maj_at_budget": {"acc": maj, "n": None},
          "math_full": mf, "temperature": None,
          "notes": "pass1 = CoT column, maj_at_budget = 'Major.' column of 2502.06703 Table 5 (MATH-500). The "
                   "table does not state the vote count N or the sampling temperature (not verified), so no "
                   "maj@k point with a known k is recorded. math_full = MATH (5000 problems), Qwen2.5 blog.",
          "sources": [TTS_1B, TTS_1B_TABLE, QWEN_BLOG]}
    for key, (cot, maj, mf) in _ACC.items()
}

# --- Acceptance of a Qwen2.5-0.5B draft per position (conditional alpha_i), K up to 8 -------------------------
# Shape: conditional per-position ratios of a published drafter profile on math (vllm-project/speculators #1135,
# Llama-3.2-1B DSpark "math_reasoning" row: cumulative 83.6,68.2,55.0,43.8,34.5,25.8,19.2,13.4 %), normalised.
ALPHA_SHAPE = (1.0, 0.976, 0.964, 0.952, 0.943, 0.895, 0.890, 0.835)
_A1 = {"qwen2.5-1.5b": 0.74, "qwen2.5-3b": 0.72, "qwen2.5-7b": 0.68, "qwen2.5-14b": 0.66, "qwen2.5-32b": 0.65}
ACCEPTANCE_ANCHORS = [
    {"what": "Qwen2.5-0.5B -> 1.5B-Instruct, greedy, K=5, CPU, 5 prompts/task: mean accepted length 3.00 (code), "
             "3.50 (JSON), 2.11 (story); as i.i.d. alpha via tau=(1-a^(K+1))/(1-a): 0.71, 0.78, 0.54",
     "sources": ["https://wpnews.pro/news/i-benchmarked-speculative-decoding-a-3-5-wasn-t-enough.txt",
                 "https://shortsingh.com/article/speculative-decoding-benchmarked-on-cpu-acceptance-rates-vary-"
                 "sharply-by-task"]},
    {"what": "Qwen2.5-0.5B -> 7B (4-bit), K=3: '51% acceptance'; read as accepted/drafted, tau = 1 + 3*0.51 "
             "= 2.53 => i.i.d. alpha ~0.70 (the PR does not define the ratio)",
     "sources": ["https://github.com/mattn/tensai/pull/44"]},
]
ACCEPTANCE = {
    t: {"draft": "qwen2.5-0.5b", "temperature": 0.7,
        "alpha": [round(a1 * s, 3) for s in ALPHA_SHAPE],
        "ngram": {"alpha": [0.30, 0.50, 0.55, 0.55, 0.55, 0.55, 0.55, 0.55], "assumption": True,
                  "reason": "No published prompt-lookup/n-gram acceptance for math CoT was found; CoT copies "
                            "little from the prompt, so the first position is set low and later positions higher "
                            "(once a copy span matches it tends to continue). Calibrate before trusting."},
        "assumption": True,
        "reason": "No published Qwen2.5-0.5B-draft acceptance on MATH-500 at temperature 0.7 was found. Level set "
                  "from the anchors (greedy, non-math, small samples), lowered for larger targets (wider "
                  "draft/target gap) and for sampling; per-position shape from ALPHA_SHAPE.",
        "sources": [a["sources"][0] for a in ACCEPTANCE_ANCHORS]
        + ["https://github.com/vllm-project/speculators/issues/1135"]}
    for t, a1 in _A1.items()
}

# --- Generation length of MATH CoT answers ---------------------------------------------------------------------
# Measured here on the shared bank (800 responses, Qwen2.5-Math CoT on 100 MATH problems): median 1063 characters,
# std of log(chars) 0.383 (IQR-based 0.332). Sigma is scale-free, so it carries over to tokens directly.
# Between-problem share of the (normal-score) length variance on the same bank: 0.835 (8 samples per problem;
# `python bench/length_correlation.py`): a hard problem makes all of its branches long.
CHARS_PER_TOKEN = 3.3
LENGTHS = {
    key: {"kind": "lognormal", "median_tokens": round(1063 / CHARS_PER_TOKEN), "sigma": 0.38, "min_tokens": 32,
          "max_tokens": 4096, "between_share": 0.83, "assumption": True,
          "reason": "Derived from Qwen2.5-Math (not -Instruct) CoT samples; chars->tokens uses an assumed 3.3 "
                    "characters per Qwen BPE token for LaTeX-heavy English; no published per-size length "
                    "distribution for Qwen2.5-Instruct on MATH-500 was found, so every size gets the same one. "
                    "Instruct models are likely somewhat longer: calibrate.",
          "sources": [SAMPLE_BANK]}
    for key in MODELS
}

# --- Speculation x batch on GPUs (docs/sources.md, "Speculation x batch"; bench/spec_published.py) -------------
# A verify step pays for its query width long before the roofline knee, and a speculative round carries a fixed
# cost (draft launch, rejection sampling, bookkeeping). Published H100 vLLM measurements pin both: the
# SpecDecode-Bench step-time fit (Llama-3.1-8B, H100: 5.89 ms + 21.0 us per batched token + 39.3 ns per cached
# token, plus 1.21 ms per engine step) and the end-to-end speed-ups in bench/published/spec_points.csv, of which
# the train split fixed roofline_p, verify_s and draft_t0_s below (`python bench/spec_published.py --fit`).
SPEC_BENCH_SIM = ("https://github.com/SpecDecode-Bench/simulator (predictor.py, class Llama8BH100; "
                  "paper arXiv 2601.11580, 'Speculative Decoding: Performance or Illusion?')")
SPEC_BENCH_FIG = "https://specdecode-bench.github.io (Figure 1; arXiv 2601.11580)"
VLLM_20780 = "https://github.com/vllm-project/vllm/issues/20780 (EAGLE-1/EAGLE-3 TPOT and acceptance length, K=2..7)"
SPECULATION = {
    "roofline_p": {"value": 3.0, "fitted": True, "sources": [SPEC_BENCH_FIG, VLLM_20780, SPEC_BENCH_SIM],
                   "reason": "p-norm joining memory and compute time of a step, fitted on the train split of "
                             "bench/published/spec_points.csv; the hard max (p absent) kept speed-up flat until "
                             "hundreds of tokens in flight."},
    "verify_s": {"value": 0.0006, "fitted": True, "sources": [VLLM_20780, SPEC_BENCH_FIG],
                 "reason": "Fixed extra time of a speculative round (draft launch, rejection sampling, "
                           "bookkeeping): the intercept of round time vs K in the EAGLE-1 TPOT x acceptance-length "
                           "table of vllm#20780 after the verify step and K draft steps (train split)."},
    "draft_t0_s": {"value": 0.0002, "fitted": True, "sources": [VLLM_20780, SPEC_BENCH_SIM],
                   "reason": "Per draft-step launch cost: draft steps run inside one engine step (one CUDA graph "
                             "replay each, no scheduler pass), so far below the target's per-step t0; slope of round "
                             "time vs K in vllm#20780 minus the head's weight read (train split)."},
}

# --- Efficiencies for a datasheet-only profile ------------------------------------------------------------------
EFFICIENCY = {
    "weight_bw": {"value": 0.80, "assumption": True,
                  "reason": "Decode streams all weights once per step; large-GEMV kernels typically reach 70-90% "
                            "of peak HBM bandwidth. calculon's A100 preset uses 0.90 for >=100 MB transfers.",
                  "sources": ["https://github.com/calculon-ai/calculon/blob/main/systems/a100_80g.json"]},
    "kv_bw": {"value": 1.0,
              "reason": "Published H100 vLLM step fit: 39.3 ns per cached token for Llama-3.1-8B (131,072 B of K/V) "
                        "= 3.34 TB/s, i.e. the datasheet peak (was an assumed 0.60).",
              "sources": [SPEC_BENCH_SIM]},
    "flops": {"value": 0.77,
              "reason": "Published H100 vLLM step fit: 21.0 us per batched token for Llama-3.1-8B (16.06 GFLOP) "
                        "= 765 TFLOP/s = 0.77 of dense peak (was an assumed 0.65).",
              "sources": [SPEC_BENCH_SIM]},
    "prefill_flops": {"value": 0.55, "assumption": True,
                      "reason": "Prefill of a ~200-token shared prompt: short GEMMs plus attention, below GEMM peak."},
    "t0_s": {"hf_eager": 0.003, "cuda_graphs": 0.0012, "default": "hf_eager", "assumption": True,
             "cuda_graphs_source": SPEC_BENCH_SIM + ": overhead_constant_per_step 1.21 ms (was an assumed 0.8 ms)",
             "reason": "Per-step fixed cost = kernel launches (~10-15 per layer x 5-10 us in eager PyTorch, i.e. "
                       "2-5 ms for 24-64 layers) plus sampling/scheduling; CUDA-graph engines (vLLM/SGLang) replay "
                       "a captured graph, leaving well under 1 ms. Measure with planner calibrate."},
    "prefill_t0_s": {"value": 0.005, "assumption": True,
                     "reason": "One launch-bound forward pass plus tokenisation overhead."},
}

# --- The seed paper's headline, for comparison in docs --------------------------------------------------------
PAPER_CLAIMS = {
    "arxiv": "2505.19634", "title": "Faster and Better LLMs via Latency-Aware Test-Time Scaling",
    "authors": "Zili Wang, Tianyu Zhang, Lei Zhu, Haoli Bai, Lu Hou, Shiming Xiang, Xianzhi Yu, Wulong Liu",
    "venue": "Findings of EMNLP 2025, pages 17124-17137",
    "claims": [{"model_size": "32B", "dataset": "MATH-500", "accuracy": 0.823, "deadline_s": 60.0},
               {"model_size": "3B", "dataset": "MATH-500", "accuracy": 0.724, "deadline_s": 10.0}],
    "hardware": None, "hardware_verified": False,
    "notes": "Claims from the abstract. The body (models, hardware, engine, draft) could not be read in the "
             "searchable corpus, so the device is not recorded. For scale: Qwen2.5-32B-Instruct scores 82.4 CoT / "
             "87.0 majority and Qwen2.5-3B-Instruct 64.0 / 77.0 on MATH-500 in 2502.06703 Table 5.",
    "sources": [SEED, SEED_ACL, "https://arxiv.org/html/2505.19634v3"],
}


# --- helpers ---------------------------------------------------------------------------------------------------
def tau_from_alpha(alpha) -> float:
    """Expected tokens per speculative round: 1 + sum_i prod_{j<=i} alpha_j."""
    tau, run = 1.0, 1.0
    for a in alpha:
        run *= a
        tau += run
    return tau


def iid_alpha_from_tau(tau: float, k: int) -> float:
    """Invert tau = (1 - a^(k+1)) / (1 - a) for a in [0, 1] (bisection; tau is increasing in a)."""
    if not 1.0 <= tau <= k + 1:
        raise ValueError(f"tau={tau} must lie in [1, {k + 1}] for k={k}")
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tau_from_alpha([mid] * k) < tau else (lo, mid)
    return (lo + hi) / 2


def model_arch_fields(key: str) -> dict:
    """The ModelArch fields of a preset model (schema.ModelArch keyword arguments)."""
    m = MODELS[key]
    return {f: m[f] for f in ("name", "params", "layers", "hidden", "heads", "kv_heads", "head_dim", "vocab",
                              "dtype_bytes", "hf_id", "max_context")}
