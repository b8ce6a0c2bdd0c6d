"""PyTorch reference for bench/kernels/conv.mjs: times conv2d forward and forward + backward (input,
weight and bias gradients, as inside a network) on the CPU with the thread count the caller gives,
in PyTorch's default NCHW layout and, for comparison, channels-last. Prints one JSON object with
the time of every iteration in milliseconds; the caller summarizes."""
import json
import sys
import time

import torch
import torch.nn.functional as F


def times_ms(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return times


def time_shape(s, n, iters, warmup, channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    oh = (s["h"] + 2 * s["pad"] - s["k"]) // s["stride"] + 1
    x = torch.randn(n, s["cin"], s["h"], s["h"]).to(memory_format=fmt).requires_grad_()
    w = (torch.randn(s["cout"], s["cin"], s["k"], s["k"]) / (s["cin"] * s["k"] ** 2) ** 0.5)
    w = w.to(memory_format=fmt).requires_grad_()
    b = torch.randn(s["cout"]).requires_grad_()
    dy = torch.randn(n, s["cout"], oh, oh).to(memory_format=fmt)

    def fwd():
        return F.conv2d(x, w, b, stride=s["stride"], padding=s["pad"])

    def fwd_bwd():
        # autograd.grad writes fresh gradients, as the engine's backward does, instead of accumulating
        return torch.autograd.grad(fwd(), (x, w, b), dy)

    return {"fwd": times_ms(fwd, iters, warmup), "fwdbwd": times_ms(fwd_bwd, iters, warmup)}


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    results = []
    for s in cfg["shapes"]:
        nchw = time_shape(s, cfg["n"], cfg["iters"], cfg["warmup"], channels_last=False)
        nhwc = time_shape(s, cfg["n"], cfg["iters"], cfg["warmup"], channels_last=True)
        results.append({"name": s["name"], "nchw": nchw, "channels_last": nhwc})
    print(json.dumps({"torch_version": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
                      "threads": torch.get_num_threads(), "shapes": results}))


if __name__ == "__main__":
    main()
