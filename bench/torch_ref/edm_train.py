"""The training and sampling pieces the PyTorch benchmarks share (bench/torch_train_step.py on the
CPU, bench/torch_gpu.py on a GPU), written from docs/method.md so that both time the same work as
pfgm's native step and sampler:

  * draw_sigma / perturb: EDM's log-normal sigma and the exact Student-t kernel (docs/method.md §2.1, 2.2);
  * ema_update: EDM's EMA lerp over every parameter;
  * karras_sigmas / prior / heun: EDM's schedule, the prior at sigma_max and Heun's solver without
    churn (docs/method.md §2.3), 2n - 1 network evaluations for n steps.

Every function takes tensors on any device and draws from the torch RNG of that device, in one
fixed order (sigma, then g, then the chi^2 draw), so a seeded run is reproducible.
"""
import math

import torch

P_MEAN, P_STD = -1.2, 1.2  # EDM's log-normal noise-level distribution (docs/method.md §2.2)
LR = 2e-4
EMA_BETA = 0.999  # a fixed beta: EDM's half-life/ramp-up only changes this scalar, not the work
SIGMA_MIN, SIGMA_MAX, RHO = 0.002, 80.0, 7.0  # EDM's schedule (docs/method.md §2.3)


def parse_d(text):
    """D from the command line: a positive number, or inf / infinity (EDM)."""
    return math.inf if str(text).lower() in ("inf", "infinity") else float(text)


def draw_sigma(batch, device):
    """ln sigma ~ N(P_MEAN, P_STD^2), one per sample (docs/method.md §2.2)."""
    return (torch.randn(batch, device=device) * P_STD + P_MEAN).exp()


def student_t_noise(shape, sigma, D, device):
    """n = sigma g / sqrt(c / D), g ~ N(0, I), c ~ chi^2_D = 2 Gamma(D/2, 1), one c per sample
    (docs/method.md §2.1, eq. 2.2); D = inf is plain Gaussian noise sigma g. `sigma` has one entry per
    sample (shape[0])."""
    batch = shape[0]
    g = torch.randn(*shape, device=device)
    if math.isinf(D):
        scale = sigma
    else:
        c = 2.0 * torch._standard_gamma(torch.full((batch,), D / 2.0, device=device))
        scale = sigma / torch.sqrt(c / D)
    return scale.reshape(batch, *([1] * (len(shape) - 1))) * g


def perturb(y, D):
    """A fresh training perturbation of the clean batch y: (x, sigma), x = y + n (docs/method.md §2.2)."""
    sigma = draw_sigma(y.shape[0], y.device)
    return y + student_t_noise(tuple(y.shape), sigma, D, y.device), sigma


@torch.no_grad()
def ema_update(ema, params, beta=EMA_BETA):
    """EDM's EMA, p_ema <- p + beta (p_ema - p), over every parameter; one fused multi-tensor
    kernel per call where PyTorch has it (_foreach_lerp_), a loop otherwise. Same function:
    e + (1 - beta)(p - e) = p + beta (e - p)."""
    detached = [p.detach() for p in params]
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(ema, detached, 1.0 - beta)
    else:  # pragma: no cover - old PyTorch
        for e, p in zip(ema, detached):
            e.copy_(p.lerp(e, beta))


def karras_sigmas(steps, device, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, rho=RHO):
    """EDM's schedule with n = steps noise levels and a final 0 (docs/method.md §2.3), in float64 like
    EDM (the solver's scalars), endpoints exact as in src/physics/schedule.ts."""
    hi, lo = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    sig = [(hi + (0 if steps == 1 else i / (steps - 1)) * (lo - hi)) ** rho for i in range(steps)]
    sig[0] = sigma_max
    if steps > 1:
        sig[-1] = sigma_min
    return torch.tensor(sig + [0.0], dtype=torch.float64, device=device)


def prior(shape, D, device, sigma_max=SIGMA_MAX):
    """x_T = 0 + n with n from eq. 2.2 at sigma_max (docs/method.md §2.3)."""
    sigma = torch.full((shape[0],), sigma_max, device=device)
    return student_t_noise(shape, sigma, D, device)


def heun(denoise, x, sigmas):
    """EDM's deterministic Heun sampler (docs/method.md §2.3): Euler to sigma_{i+1}, then the trapezoid
    correction except on the last step to 0. denoise(x, sigma_scalar_tensor) -> D(x, sigma).
    Returns (x_0, number of network evaluations)."""
    nfe = 0
    n = sigmas.numel() - 1
    batch = x.shape[0]
    for i in range(n):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        d_cur = (x - denoise(x, t_cur.float().expand(batch))) / t_cur.float()
        nfe += 1
        x_next = x + (t_next - t_cur).float() * d_cur
        if i < n - 1:
            d_prime = (x_next - denoise(x_next, t_next.float().expand(batch))) / t_next.float()
            nfe += 1
            x_next = x + (t_next - t_cur).float() * (0.5 * d_cur + 0.5 * d_prime)
        x = x_next
    return x, nfe
