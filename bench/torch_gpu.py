"""PyTorch side of `npm run bench:gpu` (bench/gpu.mjs): training and sampling throughput of an EDM
SongUNet preset on one device, in the precisions pfgm offers, eager and under torch.compile.
Prints one JSON line.

Training images/s: batch / the median wall time of one full step, timed between two
synchronisations of the device: a fresh sigma and Student-t noise at D (docs/method.md §2.2), forward,
EDM's loss, backward, Adam and the EMA of every parameter (what pfgm's trainStep fuses into one
native call). Sampling images/s: sample batch / the median wall time of one whole EDM Heun run
(docs/method.md §2.3; 18 steps = 35 network evaluations by default) from the prior, network in eval mode,
no autograd.

Modes (each on a freshly built and seeded network, the same for every mode):
  fp32   TF32 off for cuBLAS and cuDNN: true float32 products
  tf32   TF32 on for both (float32 storage, 10-bit-mantissa products on tensor cores)
  bf16   torch.autocast(bfloat16) around forward + loss (and around the denoiser when sampling);
         float32 master weights, Adam and EMA; TF32 off for what stays float32
and each again as `<mode>-compile` under torch.compile (the forward + loss function and the
denoiser; backward through AOTAutograd). A mode that fails reports {"error": ...} and the run goes
on. The first step / first sample (which includes compilation for compiled modes) is timed
separately and left out of the medians.

  python3 bench/torch_gpu.py --device cuda --network ddpmpp-cifar10 --batch 128
  python3 bench/torch_gpu.py --device cpu --network ddpmpp-small --batch 2 --steps 1   # smoke run
  python3 bench/torch_gpu.py --device cpu --check                                     # the script runs
"""
import argparse
import contextlib
import gc
import json
import math
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref"))
import edm_train  # noqa: E402
from edm_nets import PRESETS, Precond, SongUNet, count_params, edm_loss  # noqa: E402

ALL_MODES = ("fp32", "tf32", "bf16")
# A SongUNet small enough for --check to run in seconds on a CPU: two resolutions, one block each,
# attention at the lower one, dropout on, so every layer type of the presets is exercised.
CHECK_CONFIG = dict(img_resolution=8, in_channels=1, out_channels=1, model_channels=16, channel_mult=[1, 2],
                    channel_mult_emb=2, num_blocks=1, attn_resolutions=[4], dropout=0.1, embedding_type="positional",
                    channel_mult_noise=1, encoder_type="standard", decoder_type="standard", resample_filter=[1, 1])


def set_tf32(on):
    """TF32 for cuBLAS and cuDNN. PyTorch's default leaves cuDNN's on, so fp32 must turn it off."""
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mib(nbytes):
    return round(nbytes / 2**20, 1)


def first_line(err):
    text = f"{type(err).__name__}: {err}"
    return text.strip().splitlines()[0][:500] if text.strip() else type(err).__name__


def build(cfg, device, seed):
    """The network, its EMA copy and Adam, built the same way for every mode (same seed, same
    weights). Adam is PyTorch's fused CUDA kernel on a GPU (its fastest), the default on a CPU."""
    torch.manual_seed(seed)
    net = Precond(SongUNet(**cfg)).to(device).train()
    params = list(net.parameters())
    ema = [p.detach().clone() for p in params]
    kw = dict(lr=edm_train.LR, betas=(0.9, 0.999), eps=1e-8)
    opt = torch.optim.Adam(params, fused=True, **kw) if device.type == "cuda" else torch.optim.Adam(params, **kw)
    return net, params, ema, opt


def make_train_step(net, params, ema, opt, y, D, precision, device, compiled, compile_mode):
    # Two plain functions rather than one with a context-manager variable: what torch.compile
    # traces is then exactly the eager code of the mode.
    if precision == "bf16":
        def forward_loss(x, sigma):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                return edm_loss(net(x, sigma), y, sigma)
    else:
        def forward_loss(x, sigma):
            return edm_loss(net(x, sigma), y, sigma)

    loss_fn = torch.compile(forward_loss, mode=compile_mode) if compiled else forward_loss

    def step():
        x, sigma = edm_train.perturb(y, D)  # fresh sigma and Student-t noise (docs/method.md §2.2)
        loss = loss_fn(x, sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        edm_train.ema_update(ema, params)
        # No .item(): the timer's synchronisation ends the step. The clone keeps the value when a
        # CUDA-graph compile mode (reduce-overhead) reuses the output's memory on the next call.
        return loss.detach().clone()

    return step


def make_sampler(net, shape, D, precision, device, compiled, compile_mode, steps):
    if precision == "bf16":
        def denoise(x, sigma):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                return net(x, sigma).float()
    else:
        def denoise(x, sigma):
            return net(x, sigma)

    den = torch.compile(denoise, mode=compile_mode) if compiled else denoise
    sigmas = edm_train.karras_sigmas(steps, device)

    @torch.no_grad()
    def run():
        return edm_train.heun(den, edm_train.prior(shape, D, device), sigmas)

    return run


def compiled_graphs():
    try:
        return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    except Exception:  # noqa: BLE001 - a private counter: report nothing rather than fail
        return None


def timed(fn, device):
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def run_mode(args, cfg, device, precision, compiled):
    if precision == "tf32" and device.type != "cuda":
        return {"skipped": "TF32 exists only on CUDA devices"}
    set_tf32(precision == "tf32")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    net, params, ema, opt = build(cfg, device, args.seed)
    C, R = cfg["in_channels"], cfg["img_resolution"]
    torch.manual_seed(args.seed + 1)
    y = torch.rand(args.batch, C, R, R, device=device) * 2 - 1  # fixed "data" in [-1, 1]
    step = make_train_step(net, params, ema, opt, y, args.D, precision, device, compiled, args.compile_mode)

    out = {"precision": precision, "compiled": compiled}
    graphs_before = compiled_graphs()
    losses = []
    loss, first = timed(step, device)  # compiles here in a compiled mode
    losses.append(loss)
    out["train_first_step_s"] = round(first, 4)
    for _ in range(max(0, args.warmup - 1)):
        losses.append(step())
    times = []
    for _ in range(args.steps):
        loss, dt = timed(step, device)
        losses.append(loss)
        times.append(dt)
    loss_values = torch.stack(losses).float().cpu().tolist()
    if not all(math.isfinite(v) for v in loss_values):
        raise FloatingPointError(f"non-finite training loss: {loss_values}")
    ms = statistics.median(times) * 1000
    out["train_ms_per_step"] = round(ms, 3)
    out["train_ms_all"] = [round(t * 1000, 3) for t in times]
    out["train_images_per_s"] = round(args.batch / (ms / 1000), 2)
    out["loss_first"], out["loss_last"] = round(loss_values[0], 4), round(loss_values[-1], 4)
    if compiled:
        out["compile_s"] = round(max(0.0, first - ms / 1000), 3)  # the first step's excess
    if device.type == "cuda":
        out["train_peak_mib"] = mib(torch.cuda.max_memory_allocated(device))
        torch.cuda.reset_peak_memory_stats(device)

    # Sampling: eval mode (no dropout), no autograd, the training weights (the EMA copy is the
    # same work).
    del opt, losses
    net.eval()
    shape = (args.sample_batch, C, R, R)
    sampler = make_sampler(net, shape, args.D, precision, device, compiled, args.compile_mode, args.sample_steps)
    (x0, nfe), first = timed(sampler, device)
    out["sample_first_s"] = round(first, 4)
    stimes = []
    for _ in range(args.sample_repeats):
        (x0, nfe), dt = timed(sampler, device)
        stimes.append(dt)
    if not bool(torch.isfinite(x0).all()):
        raise FloatingPointError("non-finite sample")
    s = statistics.median(stimes)
    out["sample_nfe"] = nfe
    out["sample_s"] = round(s, 4)
    out["sample_s_all"] = [round(t, 4) for t in stimes]
    out["sample_images_per_s"] = round(args.sample_batch / s, 2)
    out["sample_ms_per_nfe"] = round(s * 1000 / nfe, 3)
    if compiled:
        out["sample_compile_s"] = round(max(0.0, first - s), 3)
        # Graphs dynamo made in this mode (training and sampling): more than a few means
        # recompilation, which the warm-up must cover for the medians to be clean.
        out["dynamo_graphs"] = None if graphs_before is None else compiled_graphs() - graphs_before
    if device.type == "cuda":
        out["sample_peak_mib"] = mib(torch.cuda.max_memory_allocated(device))
    return out


def cleanup(device):
    gc.collect()
    with contextlib.suppress(Exception):
        torch._dynamo.reset()  # no compiled graph of one mode is reused by the next
    if device.type == "cuda":
        torch.cuda.empty_cache()


def environment(device):
    env = {
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update({
            "gpu_name": props.name,
            "gpu_compute_capability": f"{props.major}.{props.minor}",
            "gpu_memory_mib": mib(props.total_memory),
            "gpu_multiprocessors": props.multi_processor_count,
            "torch_cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        })
    else:
        env["cpu_threads"] = torch.get_num_threads()
    return env


def check(args, device):
    """Runs the twin's training step and sampler on a tiny SongUNet and prints the losses: proof
    that the script itself works on this device, nothing about speed."""
    net, params, ema, opt = build(CHECK_CONFIG, device, args.seed)
    torch.manual_seed(args.seed + 1)
    y = torch.rand(4, 1, 8, 8, device=device) * 2 - 1
    before = [e.clone() for e in ema]
    step = make_train_step(net, params, ema, opt, y, args.D, "fp32", device, False, None)
    losses = [float(step()) for _ in range(args.check_steps)]
    ema_moved = any(not torch.equal(a, b) for a, b in zip(before, ema))
    net.eval()
    x0, nfe = make_sampler(net, (4, 1, 8, 8), args.D, "fp32", device, False, None, 3)()
    print(json.dumps({
        "bench": "torch-gpu-check",
        **environment(device),
        "params": count_params(net),
        "D": "inf" if math.isinf(args.D) else args.D,
        "losses": losses,
        "ema_moved": ema_moved,
        "sample_nfe": nfe,
        "sample_finite": bool(torch.isfinite(x0).all()),
        "ok": all(math.isfinite(v) for v in losses) and ema_moved and bool(torch.isfinite(x0).all()),
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (smoke runs)")
    ap.add_argument("--network", default="ddpmpp-cifar10", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=128, help="training batch")
    ap.add_argument("--D", type=edm_train.parse_d, default=128.0, help="Student-t degrees of freedom, or inf (EDM)")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps (median reported)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first, the first timed apart (>= 1)")
    ap.add_argument("--sample-batch", type=int, default=None, help="images per sampling run (default: --batch)")
    ap.add_argument("--sample-steps", type=int, default=18, help="Heun steps (NFE = 2 n - 1)")
    ap.add_argument("--sample-repeats", type=int, default=3, help="timed sampling runs after one untimed")
    ap.add_argument("--modes", default=",".join(ALL_MODES), help="comma list of fp32, tf32, bf16")
    ap.add_argument("--no-compile", action="store_true", help="eager modes only")
    ap.add_argument("--compile-mode", default=None, help="torch.compile mode (default, reduce-overhead, ...)")
    ap.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cuDNN's autotuner off (EDM turns it on)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="run a tiny network's training steps and print the losses")
    ap.add_argument("--check-steps", type=int, default=3)
    args = ap.parse_args()
    if args.sample_batch is None:
        args.sample_batch = args.batch
    for name in ("batch", "steps", "warmup", "sample_batch", "sample_steps", "sample_repeats", "check_steps"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in ALL_MODES]
    if bad or not modes:
        ap.error(f"--modes takes a comma list of {', '.join(ALL_MODES)}; got {args.modes!r}")

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"bench": "torch-gpu", "error": f"no CUDA device visible to PyTorch {torch.__version__}"}))
        sys.exit(2)
    if device.type == "cuda":
        # set_device wants an index; a bare "cuda" means the current device.
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    if args.check:
        check(args, device)
        return

    cfg = PRESETS[args.network]
    result = {
        "bench": "torch-gpu",
        **environment(device),
        "network": args.network,
        "params": count_params(SongUNet(**cfg)),
        "batch": args.batch,
        "sample_batch": args.sample_batch,
        "sample_steps": args.sample_steps,
        "D": "inf" if math.isinf(args.D) else args.D,
        "steps": args.steps,
        "warmup": args.warmup,
        "sample_repeats": args.sample_repeats,
        "compile_mode": args.compile_mode or "default",
        "modes": {},
    }
    for precision in modes:
        for compiled in (False,) if args.no_compile else (False, True):
            key = f"{precision}-compile" if compiled else precision
            try:
                result["modes"][key] = run_mode(args, cfg, device, precision, compiled)
            except Exception as err:  # noqa: BLE001 - one failing mode must not lose the others
                result["modes"][key] = {"precision": precision, "compiled": compiled, "error": first_line(err)}
            cleanup(device)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
