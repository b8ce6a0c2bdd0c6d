"""PyTorch reference for bench/physics.mjs: the same PFGM++ perturbation (docs/method.md (2.2)) and prior
draw, timed on the CPU with the thread count the caller gives. Prints one JSON object."""
import json
import sys
import time

import torch


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    count, n, D, reps = cfg["count"], cfg["n"], cfg["D"], cfg["reps"]
    y = torch.zeros(count, n)
    sigma = torch.full((count, 1), 0.5)
    gen = torch.Generator().manual_seed(0)

    def perturb():
        g = torch.randn(count, n, generator=gen)
        # chi^2_D = 2 Gamma(D/2): torch's exact gamma sampler, as the reference PFGM++ code would use
        c = 2.0 * torch._standard_gamma(torch.full((count, 1), D / 2.0), generator=gen)
        return y + sigma * g / torch.sqrt(c / D)

    times = []
    for _ in range(reps + 2):
        t0 = time.perf_counter()
        perturb()
        times.append(time.perf_counter() - t0)
    times = sorted(times[2:])
    print(json.dumps({"torch_version": torch.__version__, "torch_ms_median": 1000 * times[len(times) // 2],
                      "torch_ms_min": 1000 * times[0]}))


if __name__ == "__main__":
    main()
