"""What the device is and what it can do: name, memory, streaming bandwidth, GEMM throughput.

Why measure instead of looking up: on a CPU VM (or a shared GPU) the datasheet says little about what a decode
step sees. The bandwidth microbenchmark is the floor of a memory-bound step (weight bytes / bandwidth), the
GEMM one is the ceiling of compute-bound verification; both go into the profile's `hardware` section and act
as weak priors for the step fit. Medians of repeats, after a warm-up, so one preempted repeat does not count."""

from __future__ import annotations

import os
import platform
import statistics
import time


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_memory_GB() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 ** 2  # kB -> GiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3
    except (ValueError, OSError, AttributeError):
        return 1.0


def cpu_available_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(cpu_memory_GB() * 1024 ** 3 * 0.5)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _median_time(fn, device: str, repeats: int, warmup: int = 1, clock: str = "wall") -> float:
    now = time.thread_time if clock == "cpu" else time.perf_counter
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        t = now()
        fn()
        _sync(device)
        if i >= warmup:
            times.append(now() - t)
    return statistics.median(times)


def measure_bandwidth(device: str = "cpu", megabytes: int = 256, repeats: int = 7, clock: str = "wall") -> dict:
    """Read (sum of a large fp32 buffer) and copy (dst.copy_(src): read + write) bandwidth in GB/s, medians."""
    import torch

    n = megabytes * (1 << 20) // 4
    src = torch.ones(n, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    nbytes = src.numel() * 4
    read = _median_time(lambda: src.sum(), device, repeats, clock=clock)
    copy = _median_time(lambda: dst.copy_(src), device, repeats, clock=clock)
    del src, dst
    return {"read_GBps": round(nbytes / read / 1e9, 3), "copy_GBps": round(2 * nbytes / copy / 1e9, 3),
            "buffer_MB": megabytes, "repeats": repeats, "statistic": "median", "clock": clock}


def measure_gemm(device: str = "cpu", dtype: str = "bf16", n_max: int = 4096, repeats: int = 5,
                 target_s: float = 0.05, clock: str = "wall") -> dict:
    """Dense n x n x n matmul throughput in TFLOP/s (median) in the calibration dtype. n doubles from 256
    until one product takes `target_s` (big enough to be compute-bound, small enough that a CPU emulating
    bf16 at < 1 GFLOP/s does not spend minutes here)."""
    import torch

    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    n = 256
    while True:
        a = torch.randn(n, n, device=device).to(dt)
        b = torch.randn(n, n, device=device).to(dt)
        t = _median_time(lambda: a @ b, device, 1, clock=clock)
        if t >= target_s or n >= n_max:
            break
        n *= 2
    t = _median_time(lambda: a @ b, device, repeats, warmup=0, clock=clock)
    return {"tflops": round(2 * n ** 3 / t / 1e12, 6), "n": n, "dtype": dtype, "repeats": repeats,
            "statistic": "median", "clock": clock}


def device_info(device: str) -> dict:
    """Name, memory and driver facts for provenance and the profile's hardware section."""
    import torch

    info = {"threads": torch.get_num_threads(), "cpu": cpu_name(), "platform": platform.platform()}
    if device.startswith("cuda"):
        idx = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(idx)
        info.update(name=torch.cuda.get_device_name(idx), memory_GB=round(props.total_memory / 1024 ** 3, 2),
                    cuda=torch.version.cuda, gpus=torch.cuda.device_count())
        try:
            import subprocess

            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                info["driver"] = out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    else:
        info.update(name=cpu_name(), memory_GB=round(cpu_memory_GB(), 2), cores=os.cpu_count(), gpus=1)
    return info
