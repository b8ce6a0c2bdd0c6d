"""PyTorch side of `npm run bench:train-step`: one full PFGM++ training step of an EDM SongUNet preset
(perturb -> forward -> EDM loss -> backward -> Adam -> EMA), timed on the CPU with the caller's
thread count, plus an inference-only forward at the same batch. Prints one JSON line.

The step is what the engine fuses into one native call, so both sides time the same work: a fresh
sigma and Student-t noise every step (docs/method.md §2.2), dropout on (train mode), Adam without ramp-up,
and EDM's EMA lerp over every parameter. The data batch is fixed so no input pipeline is timed.

  python3 bench/torch_train_step.py --network ddpmpp-small --batch 64 --D 128 --threads 2
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref"))
import edm_train  # noqa: E402
from edm_nets import PRESETS, Precond, SongUNet, count_params, edm_loss  # noqa: E402
from edm_train import EMA_BETA, LR, parse_d  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="ddpmpp-small", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--D", type=parse_d, default=128.0, help="Student-t degrees of freedom, a number or inf")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocator, oneDNN kernel choice)")
    ap.add_argument("--forward-only-iters", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    cfg = PRESETS[args.network]
    net = Precond(SongUNet(**cfg)).train()
    params = list(net.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=1e-8)

    B, C, R, D = args.batch, cfg["in_channels"], cfg["img_resolution"], args.D
    y = torch.rand(B, C, R, R) * 2 - 1  # fixed "data" in [-1, 1]

    def perturb():
        return edm_train.perturb(y, D)  # fresh sigma and Student-t noise (docs/method.md §2.2)

    def train_step():
        x, sigma = perturb()
        loss = edm_loss(net(x, sigma), y, sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.copy_(p.detach().lerp(e, EMA_BETA))
        return loss.item()  # .item() forces the step to finish inside the timed region

    times, cpu_times = [], []
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = train_step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if not math.isfinite(loss):
            raise SystemExit(f"non-finite loss at step {i}")
        if i >= args.warmup:
            times.append(1000 * dt)
            cpu_times.append(1000 * dc)

    # Inference-only forward at the same batch: eval mode (no dropout), no autograd graph.
    net.eval()
    fwd = []
    with torch.no_grad():
        x, sigma = perturb()
        net(x, sigma)  # warm-up
        for _ in range(args.forward_only_iters):
            t0 = time.perf_counter()
            net(x, sigma)
            fwd.append(1000 * (time.perf_counter() - t0))

    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": args.threads,
        "network": args.network,
        "batch": args.batch,
        "D": "inf" if math.isinf(D) else D,
        "torch_params": count_params(net),
        "torch_ms_per_step": statistics.median(times) if times else None,
        "torch_ms_per_step_all": times,
        # CPU time of the whole process (every thread) per step: on a machine shared with other
        # work, with OMP_WAIT_POLICY=passive, what the step itself costs.
        "torch_cpu_ms_per_step": statistics.median(cpu_times) if cpu_times else None,
        "torch_forward_ms": statistics.median(fwd) if fwd else None,
        # ru_maxrss is in KiB on Linux: the peak of the whole process (weights, Adam state, activations).
        "torch_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
