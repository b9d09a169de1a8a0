"""GPU datasheet numbers behind the derived profiles (re-exported by planner.profile.presets), each with where it
came from: dense tensor-core peaks per number format, memory, memory bandwidth and the link a TP all-reduce uses.

Pure data, stdlib only. docs/sources.md mirrors this file as a table; tests/unit/test_presets.py cross-checks it."""

from __future__ import annotations

# --- GPUs: per device, dense (no 2:4 sparsity) bf16 tensor-core peak; interconnect = per direction ------------
GPUS = {
    "h100-sxm": {"name": "NVIDIA H100 SXM5 80GB", "mem_bw_GBps": 3350, "bf16_tflops": 989, "memory_GB": 80,
                 "fp8_tflops": 1979, "int8_tops": 1979,
                 "interconnect_GBps": 450, "interconnect": "NVLink 4, 900 GB/s total = 450 GB/s per direction",
                 "notes": "Datasheet lists 1,979 TFLOPS BF16 *with sparsity*; dense is half (989.4).",
                 "sources": ["https://www.nvidia.com/en-us/data-center/h100/",
                             "https://resources.nvidia.com/en-us-tensor-core/gtc22-whitepaper-hopper",
                             "https://glennklockwood.com/garden/processors/h100",
                             "https://archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html"]},
    "h200": {"name": "NVIDIA H200 SXM 141GB", "mem_bw_GBps": 4800, "bf16_tflops": 989, "memory_GB": 141,
             "fp8_tflops": 1979, "int8_tops": 1979,
             "interconnect_GBps": 450, "interconnect": "NVLink 4, 900 GB/s total = 450 GB/s per direction",
             "notes": "Same GH100 compute as H100 SXM (1,979 TFLOPS BF16 with sparsity); HBM3e 141 GB at 4.8 TB/s.",
             "sources": ["https://www.nvidia.com/en-us/data-center/h200/",
                         "https://aiwiki.ai/wiki/nvidia_h200/raw",
                         "https://raw.githubusercontent.com/mlcommons/inference_results_v4.1/main/closed/NVIDIA/"
                         "systems/H200-SXM-141GBx8_TRT_MaxQ.json"]},
    "h800": {"name": "NVIDIA H800 SXM5 80GB", "mem_bw_GBps": 3350, "bf16_tflops": 989, "memory_GB": 80,
             "fp8_tflops": 1979, "int8_tops": 1979,
             "interconnect_GBps": 200, "interconnect": "NVLink cut to 400 GB/s total = 200 GB/s per direction",
             "notes": "Export variant of H100 SXM: same die, memory and tensor throughput; NVLink and FP64 cut. "
                      "No NVIDIA datasheet was found in the searchable corpus: secondary sources only.",
             "sources": ["https://aiwiki.ai/wiki/nvidia_h800",
                         "https://www.philisun.com/technical-analysis/"
                         "nvidia-h800-vs-h100-a-technical-deep-dive-into-politically-defined-ai-chips"]},
    "a100-80gb": {"name": "NVIDIA A100 SXM4 80GB", "mem_bw_GBps": 2039, "bf16_tflops": 312, "memory_GB": 80,
                  "fp8_tflops": None, "int8_tops": 624,
                  "interconnect_GBps": 300, "interconnect": "NVLink 3, 600 GB/s total = 300 GB/s per direction",
                  "sources": ["https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                              "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
                              "https://glennklockwood.com/garden/processors/A100"]},
    "l40s": {"name": "NVIDIA L40S 48GB", "mem_bw_GBps": 864, "bf16_tflops": 362.05, "memory_GB": 48,
             "fp8_tflops": 733, "int8_tops": 733,
             "interconnect_GBps": 32, "interconnect": "PCIe Gen4 x16, 64 GB/s bidirectional; no NVLink",
             "notes": "Datasheet: BF16 362.05 TFLOPS dense, 733 with sparsity.",
             "sources": ["https://www.nvidia.com/en-us/data-center/l40s/",
                         "https://www.mullet.se/product.html?product_id=355414",
                         "https://www.itcreations.com/nvidia-gpu/nvidia-l40s-gpu-accelerator"]},
    "rtx4090": {"name": "NVIDIA GeForce RTX 4090 24GB", "mem_bw_GBps": 1008, "bf16_tflops": 165.2, "memory_GB": 24,
                "fp8_tflops": 330.3, "int8_tops": 660.6,
                "interconnect_GBps": 32, "interconnect": "PCIe Gen4 x16 (~32 GB/s per direction); no NVLink",
                "notes": "GeForce Ada runs BF16 with FP32 accumulate at half rate: 165.2 dense (330.3 sparse).",
                "sources": ["https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4090/",
                            "https://waredb.com/processor/nvidia-geforce-rtx-4090",
                            "https://www.thefpsreview.com/gpu-family/nvidia-geforce-rtx-4090-gpu-family-specifications",
                            "https://github.com/JustAResearcher/gpu-unlock-ada (stock BF16/FP32-acc: 165.5 TF/s)"]},
    # --- added for issue 18: the parts people deploy on (dense figures; "sparsity" datasheet columns halved) ---
    "a100-40gb": {"name": "NVIDIA A100 SXM4 40GB", "mem_bw_GBps": 1555, "bf16_tflops": 312, "memory_GB": 40,
                  "fp8_tflops": None, "int8_tops": 624,
                  "interconnect_GBps": 300, "interconnect": "NVLink 3, 300+300 GB/s",
                  "notes": "Launch A100: same FLOP/s as the 80 GB part, HBM2 at 1.555 TB/s. No fp8 tensor cores.",
                  "sources": ["https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                              "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
                              "https://glennklockwood.com/garden/processors/A100",
                              "https://upb-pc2.atlassian.net/wiki/spaces/PC2DOK/pages/1900609/"
                              "NVIDIA+A100+40GB+with+NVLINK"]},
    "a10g": {"name": "NVIDIA A10G 24GB (AWS G5)", "mem_bw_GBps": 600, "bf16_tflops": 70, "memory_GB": 24,
             "fp8_tflops": None, "int8_tops": 140,
             "interconnect_GBps": 32, "interconnect": "PCIe Gen4 x16 (~32 GB/s per direction); no NVLink",
             "notes": "AWS-only variant of the A10 (GA102): 24 GB GDDR6 at 600 GB/s as the A10. NVIDIA publishes no "
                      "A10G datasheet; the tensor figure (70 dense bf16, below the A10's 125) is the one quoted in "
                      "Baseten's A10 vs A10G comparison and int8 is taken as 2x bf16 as on every Ampere part: treat "
                      "compute-bound predictions on this GPU as unverified. No fp8.",
             "sources": ["https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/",
                         "https://sysrqmts.com/ru/gpus/compare/nvidia-a10-pcie-vs-nvidia-quadro-rtx-4000"]},
    "l4": {"name": "NVIDIA L4 24GB", "mem_bw_GBps": 300, "bf16_tflops": 121, "memory_GB": 24,
           "fp8_tflops": 242.5, "int8_tops": 242.5,
           "interconnect_GBps": 32, "interconnect": "PCIe Gen4 x16 (~32 GB/s per direction); no NVLink",
           "notes": "Datasheet: BF16 242 / FP8 485 / INT8 485 TOPS *with sparsity*; dense is half. 72 W Ada part.",
           "sources": ["https://www.nvidia.com/en-us/data-center/l4/",
                       "https://www.yobitel.com/knowledge-base/nvidia-l4",
                       "https://grokipedia.com/page/NVIDIA_L4_vs_L40S",
                       "https://hmc-tech.com/gpu/nvidia-l4-vs-nvidia-l40"]},
    "h20": {"name": "NVIDIA H20 96GB", "mem_bw_GBps": 4000, "bf16_tflops": 148, "memory_GB": 96,
            "fp8_tflops": 296, "int8_tops": 296,
            "interconnect_GBps": 450, "interconnect": "NVLink 4, 900 GB/s total = 450 GB/s per direction",
            "notes": "Export Hopper: full HBM3 bandwidth (4.0 TB/s) but tensor throughput cut to 148 TFLOPS dense "
                     "bf16 (296 fp8/int8): decode is memory-bound as on H100, prefill and wide verify are not.",
            "sources": ["https://willitrunai.com/es/gpus/h20-96gb",
                        "https://zangshuxian.com/new/674733024499207168",
                        "https://unanswered.io/guide/nvidia-h20-hbm-memory"]},
    "b200": {"name": "NVIDIA B200 (HGX) 180GB", "mem_bw_GBps": 8000, "bf16_tflops": 2250, "memory_GB": 180,
             "fp8_tflops": 4500, "int8_tops": 4500,
             "interconnect_GBps": 900, "interconnect": "NVLink 5, 1.8 TB/s total = 900 GB/s per direction",
             "notes": "HGX B200 at 1,000 W: BF16 2,250 / FP8 4,500 dense (4,500 / 9,000 with sparsity). 180 GB per "
                      "GPU on HGX (1.44 TB per 8 GPUs; the die carries 192 GB).",
             "sources": ["https://glennklockwood.com/garden/processors/B200",
                         "https://docs.vultr.com/inference-cookbook/cuda/getting-started/hardware-overview",
                         "https://www.nvidia.com/en-us/data-center/hgx/"]},
    "mi300x": {"name": "AMD Instinct MI300X 192GB", "mem_bw_GBps": 5300, "bf16_tflops": 1307.4, "memory_GB": 192,
               "fp8_tflops": 2614.9, "int8_tops": 2614.9,
               "interconnect_GBps": 448,
               "interconnect": "Infinity Fabric: 7 links x 64 GB/s per direction (128 GB/s bidirectional each) to "
                               "the 7 peers of an 8-GPU mesh",
               "notes": "AMD: FP16/BF16 1,307.4 dense (2,614.9 with sparsity), FP8 2,614.9 dense. The all-reduce "
                        "uses every peer link at once (RCCL), so the per-direction figure is the 7-link sum.",
               "sources": ["https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html",
                           "https://www.jaredwatkins.com/research/ai-accelerators/amd-instinct/mi300-series/",
                           "https://awesomeagents.ai/hardware/amd-mi300x",
                           "https://www.emergentmind.com/topics/amd-mi300x-gpu"]},
}
GPU_NOTES = ("fp8_tflops / int8_tops: dense tensor-core peaks (None: the part has no such path, so a checkpoint "
             "that needs it is refused). H100/H200/H800: FP8 and INT8 1,978.9 dense (3,957.8 with sparsity; "
             "glennklockwood H100 table). A100: INT8 624 dense, no FP8. L40S: FP8/INT8 733 dense (1,466 sparse). "
             "RTX 4090: FP8 330.3 dense with FP32 accumulate, INT8 660.6 dense (Ada whitepaper via waredb).")

# --- the network between nodes: what a tensor-parallel group spanning nodes all-reduces over (issue 20) ---------
# Per GPU, per direction. Only parts whose reference node (NVIDIA DGX/HGX) pairs each GPU with its own NIC are
# listed; for any other GPU a TP group stays within a node unless the profile's interconnect says otherwise.
NETWORK = {
    "h100-sxm": {"network_GBps": 50, "network": "one ConnectX-7 400 Gb/s InfiniBand NDR port per GPU (DGX H100)",
                 "sources": ["https://www.easymanua.ls/nvidia/dgx-h100/manual?p=19 (DGX H100 User Guide 1.2.3: "
                             "one ConnectX-7 port per GPU)",
                             "https://magicalbits.net/?p=230748 (4,088 H100s, each GPU its own 400 Gb/s ConnectX-7)"]},
    "h200": {"network_GBps": 50, "network": "one ConnectX-7 400 Gb/s port per GPU (DGX H200, as DGX H100)",
             "sources": ["https://www.supercluster.blog/p/4-nvidia-dgx-h100-hardware (the DGX H100 network "
                         "architecture carries over to DGX H200 and B200)"]},
    "b200": {"network_GBps": 50, "network": "one ConnectX-7 400 Gb/s port per GPU (DGX B200)",
             "sources": ["https://www.supercluster.blog/p/4-nvidia-dgx-h100-hardware (the DGX H100 network "
                         "architecture carries over to DGX H200 and B200)"]},
}


def network_GBps(hardware_name: str) -> float | None:
    """The inter-node link of the GPU preset whose datasheet name the profile's hardware carries, or None."""
    for key, net in NETWORK.items():
        if GPUS[key]["name"] == hardware_name:
            return float(net["network_GBps"])
    return None
