"""PyTorch side of `npm run bench:inception`: pytorch-fid's FID Inception-v3 (our plain-PyTorch twin,
bench/torch_ref/inception_fid.py, the same layers and pooling as pytorch-fid's) timed on the CPU
with the caller's thread count, or on CUDA (--device cuda, TF32 off as pfgm's FID runs it,
synchronized before each clock read), as pytorch-fid runs it: float32, NCHW, torch.no_grad, the
resize to 299x299 inside the model. Weights are PyTorch's default initialisation (speed does not
depend on them). Prints one JSON line.

  python3 bench/torch_inception.py --batch 8 --threads 2 --size 32 --channels 3 [--device cuda]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref"))
from inception_fid import FidInceptionV3  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=32, help="input height and width (resized to 299)")
    ap.add_argument("--channels", type=int, default=3, help="1 is repeated to RGB, as pytorch-fid's users do")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="also time the channels_last memory format")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    model = FidInceptionV3().eval().to(device)
    x = torch.rand(args.batch, args.channels, args.size, args.size, device=device)

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def timed(m, fmt):
        times = []
        with torch.no_grad():
            for i in range(args.warmup + args.iters):
                sync()
                t0 = time.perf_counter()
                inp = x.repeat(1, 3, 1, 1) if args.channels == 1 else x
                m(inp.contiguous(memory_format=fmt))
                sync()
                if i >= args.warmup:
                    times.append((time.perf_counter() - t0) * 1000 / args.batch)
        return times

    nchw = timed(model, torch.contiguous_format)
    out = {
        "torch_ms_per_image": statistics.median(nchw),
        "torch_ms_per_image_all": nchw,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_device": args.device,
    }
    if args.channels_last:
        cl = timed(model.to(memory_format=torch.channels_last), torch.channels_last)
        out["torch_channels_last_ms_per_image"] = statistics.median(cl)
    out["torch_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
