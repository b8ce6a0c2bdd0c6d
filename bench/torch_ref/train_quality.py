"""The PyTorch twin of `pfgm train`'s default image recipe, for `npm run bench:quality`
(bench/quality.mjs): it trains the same ddpmpp-small network (bench/torch_ref/edm_nets.py) on the
same Fashion-MNIST images in the same order, with the same loss, noise-level distribution, D, Adam,
learning-rate ramp-up, EMA (half-life with ramp-up) and dropout, then samples it with EDM's Heun
sampler, and writes the samples as .npy for the caller to score. What it does not share with pfgm
is the random stream (torch's generator instead of pfgm's Philox), which is what the seed spread
of the benchmark measures.

    python3 bench/torch_ref/train_quality.py --images train-images.npy --order order.npy \\
        --batch 64 --steps 600 --lr 2e-4 --lr-rampup-kimg 3.84 --seed 0 --count 1024 --out s.npy
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edm_nets  # noqa: E402
import edm_train  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True, help=".npy [n, 1, 28, 28] float32 in [-1, 1]")
    ap.add_argument("--order", required=True, help=".npy of the dataset indices of every step's batch, in order")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--D", type=edm_train.parse_d, default=128.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lr-rampup-kimg", type=float, default=3.84)
    ap.add_argument("--ema-halflife-kimg", type=float, default=500.0)
    ap.add_argument("--ema-rampup-ratio", type=float, default=0.05)
    ap.add_argument("--sigma-data", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=1024, help="samples to draw")
    ap.add_argument("--sample-steps", type=int, default=18)
    ap.add_argument("--sample-batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = torch.from_numpy(np.load(args.images))
    order = torch.from_numpy(np.load(args.order).astype(np.int64))
    assert order.numel() >= args.steps * args.batch, "the order holds fewer indices than steps x batch"

    cfg = dict(edm_nets.PRESETS["ddpmpp-small"])
    net = edm_nets.Precond(edm_nets.SongUNet(**cfg), sigma_data=args.sigma_data)
    params = list(net.model.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    t0 = time.time()
    losses = []
    for step in range(args.steps):
        nimg = step * args.batch  # EDM reads the images seen before the step for both schedules
        idx = order[step * args.batch : (step + 1) * args.batch]
        y = images[idx]
        net.train()
        x, sigma = edm_train.perturb(y, args.D)
        D_x = net(x, sigma)
        loss = edm_nets.edm_loss(D_x, y, sigma, args.sigma_data)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        ramp = min(nimg / max(args.lr_rampup_kimg * 1000, 1e-8), 1.0) if args.lr_rampup_kimg > 0 else 1.0
        for g in opt.param_groups:
            g["lr"] = args.lr * ramp
        opt.step()
        halflife = args.ema_halflife_kimg * 1000
        if args.ema_rampup_ratio > 0:
            halflife = min(halflife, nimg * args.ema_rampup_ratio)
        beta = 0.5 ** (args.batch / max(halflife, 1e-8))
        edm_train.ema_update(ema, params, beta)
        losses.append(float(loss))
    train_s = time.time() - t0

    # The EMA weights, as pfgm samples them.
    with torch.no_grad():
        for p, e in zip(params, ema):
            p.copy_(e)
    net.eval()
    t0 = time.time()
    out = []
    sigmas = edm_train.karras_sigmas(args.sample_steps, "cpu")
    with torch.no_grad():
        for start in range(0, args.count, args.sample_batch):
            n = min(args.sample_batch, args.count - start)
            x = edm_train.prior((n, 1, 28, 28), args.D, "cpu")
            x0, nfe = edm_train.heun(lambda x_, s_: net(x_, s_), x, sigmas)
            out.append(x0)
    np.save(args.out, torch.cat(out).reshape(args.count, -1).numpy().astype(np.float32))  # rows
    print(json.dumps({"train_s": round(train_s, 1), "sample_s": round(time.time() - t0, 1),
                      "loss_first": losses[0], "loss_last": losses[-1], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
