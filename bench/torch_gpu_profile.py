"""PyTorch's side of bench/gpu-profile.mjs: the GPU kernels of one training step of the same
network, mode and batch as bench/torch_gpu.py times (eager), grouped by torch.profiler, so that
pfgm's per-op shares can be set beside PyTorch's. Prints one JSON line: the step's median wall
time without the profiler, the profiled steps' GPU time per kernel (top N) and per family
(convolution, GEMM, normalisation, elementwise, optimizer, other).

  python3 bench/torch_gpu_profile.py --network ddpmpp-cifar10 --precision bf16 --batch 128
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_gpu  # noqa: E402
from torch_gpu import PRESETS, build, make_train_step, set_tf32  # noqa: E402

# Kernel-name fragments of each family, first match wins (cuDNN, cuBLAS / CUTLASS and PyTorch's
# own kernels as they appear on Hopper).
FAMILIES = (
    ("optimizer", ("adam", "foreach", "lerp", "multi_tensor")),
    ("normalisation", ("group_norm", "groupnorm", "batch_norm", "welford", "rowwisemoments")),
    ("convolution", ("conv", "cudnn", "implicit", "dgrad", "wgrad", "fprop", "winograd", "fft", "xmma")),
    ("gemm", ("gemm", "cutlass", "sm90_", "cublas", "bmm")),
    ("softmax", ("softmax",)),
    ("elementwise", ("elementwise", "vectorized", "unrolled", "reduce", "copy", "fill", "silu", "dropout",
                     "fused_dropout", "cat", "upsample", "index")),
)


def family(name):
    n = name.lower()
    for fam, keys in FAMILIES:
        if any(k in n for k in keys):
            return fam
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="ddpmpp-cifar10", choices=sorted(PRESETS))
    ap.add_argument("--precision", default="fp32", choices=torch_gpu.ALL_MODES)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--D", default="128")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    device = torch.device("cuda", torch.cuda.current_device())
    torch.backends.cudnn.benchmark = True
    set_tf32(args.precision == "tf32")
    cfg = PRESETS[args.network]
    net, params, ema, opt = build(cfg, device, 0)
    C, R = cfg["in_channels"], cfg["img_resolution"]
    y = torch.rand(args.batch, C, R, R, device=device) * 2 - 1
    D = torch_gpu.edm_train.parse_d(args.D)
    step = make_train_step(net, params, ema, opt, y, D, args.precision, device, False, None)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(args.steps):
            step()
        torch.cuda.synchronize()
    kernels = {}
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = getattr(e, "self_cuda_time_total", 0)
        if us > 0:
            kernels[e.key] = kernels.get(e.key, 0.0) + us / 1000 / args.steps
    fams = {}
    for k, ms in kernels.items():
        fams[family(k)] = fams.get(family(k), 0.0) + ms
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[: args.top]
    print(json.dumps({
        "bench": "torch-gpu-profile",
        "network": args.network,
        "precision": args.precision,
        "batch": args.batch,
        "torch": torch.__version__,
        "step_ms": round(statistics.median(times) * 1000, 3),
        "gpu_ms": round(sum(kernels.values()), 3),
        "families": {k: round(v, 3) for k, v in sorted(fams.items(), key=lambda kv: -kv[1])},
        "top": {k[:120]: round(v, 3) for k, v in top},
    }))


if __name__ == "__main__":
    main()
