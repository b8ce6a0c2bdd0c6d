# Simulates cuda/libs/attention_blas.cu's math modes on the CPU, for the shapes and inputs of
# test/gpu/attention-blas-parity.test.ts (the same fixed sequences as test/helpers/ops.ts's filled()),
# and prints max |err| / max |ref| per output (out, weights, dq, dk, dv): the numbers the test's
# tolerances are set from. A copy of test/gpu/math-modes-sim.py's approach (CPU PyTorch, inputs of
# each product rounded as the GPU rounds them), extended to attention's chain of products:
#
#   S = (q / sqrt d) k^T, W = softmax(S), out = W v,
#   dW = dout v^T, dS = W o (dW - rowsum(dW o W)) / sqrt d, dv = W^T dout, dq = dS k, dk = dS^T q,
#
# with the backward fed the forward's own W, as the op case does. Models:
# - exact: float64 throughout (1 / sqrt d is the float32 constant both backends use);
# - fp32, two summation orders of IEEE float32 products, to bound what a different order (cuBLAS's
#   SIMT sgemm against oneDNN's blocked sgemm) changes: (A) torch's float32 CPU matmul (blocked,
#   vectorized), (B) one fused multiply-add per term in k order, the way an sgemm thread
#   accumulates its outputs (the worst common order: one accumulator, k terms in sequence);
#   softmax in float32 in both. The GPU-CPU difference is modelled by |A - B|;
# - tf32, bf16: each product's two operands rounded as the tensor cores see them (TF32: 10
#   mantissa bits; bf16: 7), by truncation (the worst case) and by round-to-nearest-even, the
#   products summed exactly (float64: fp32 accumulation adds ~1e-6, nothing at this scale) and the
#   softmax exact. cuBLAS documents neither rounding, so the test takes the larger of the two.
# First, without a GPU, it checks the GEMM mapping of cuda/libs/attention_blas.cu: the file's six
# cublasGemmStridedBatchedEx calls, parameter for parameter, run through that function's definition
# (column-major, op(A) op(B), leading dimensions, strides) on flat row-major arrays, reproduce
# attention in float64 (an assertion: it stops here if they do not).
# Run: python3 test/gpu/attention-modes-sim.py (CPU PyTorch; about four minutes on 2 cores).
import math
import sys

import numpy as np
import torch

torch.set_num_threads(2)


def filled(shape, seed, lo=-1.0, hi=1.0):
    """test/helpers/ops.ts's filled(): s <- s * 1664525 + 1013904223 mod 2^32, lo + (hi - lo) s / 2^32,
    stored as float32; vectorized with the LCG's jump-ahead over blocks of 4096 states."""
    n = int(np.prod(shape))
    block = 4096
    a = np.empty(block, dtype=np.uint64)  # multiplier and increment of a jump by j + 1 states
    c = np.empty(block, dtype=np.uint64)
    am, cm = 1, 0
    for j in range(block):
        am, cm = (am * 1664525) & 0xFFFFFFFF, (cm * 1664525 + 1013904223) & 0xFFFFFFFF
        a[j], c[j] = am, cm
    states = np.empty(n, dtype=np.uint64)
    s = seed & 0xFFFFFFFF
    for start in range(0, n, block):
        m = min(block, n - start)
        chunk = (a[:m] * np.uint64(s) + c[:m]) & np.uint64(0xFFFFFFFF)
        states[start : start + m] = chunk
        s = int(chunk[-1])
    out = lo + (hi - lo) * (states.astype(np.float64) / 2**32)
    return torch.tensor(out.astype(np.float32)).reshape(shape)


def filled_loop(shape, seed, lo=-1.0, hi=1.0):  # math-modes-sim.py's loop, to check the fast one
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float64)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = lo + (hi - lo) * (s / 2**32)
    return torch.tensor(out.astype(np.float32)).reshape(shape)


def keep_bits(t, mask, nearest):
    """float32 values with the low bits outside `mask` dropped: truncated, or rounded to nearest even."""
    b = t.to(torch.float32).contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    if nearest:
        low = (~mask) & 0xFFFFFFFF
        half = (low + 1) >> 1
        lsb = low + 1
        b = b + (half - 1) + ((b & lsb) != 0).to(torch.int64)
    b = b & mask
    b = torch.where(b >= 2**31, b - 2**32, b).to(torch.int32)
    return b.view(torch.float32).to(torch.float64)


def rounding(mode, nearest):
    mask = {"tf32": 0xFFFFE000, "bf16": 0xFFFF0000}[mode]
    return lambda t: keep_bits(t, mask, nearest)


def mm_fma_sequential(a, b):
    """float32 a @ b with one fused multiply-add per term in k order (exact float64 product added to
    the float32 accumulator, rounded once to float32)."""
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    acc = torch.zeros(a.shape[:-1] + (b.shape[-1],), dtype=torch.float32)
    for kk in range(a.shape[-1]):
        acc = (acc.to(torch.float64) + a64[..., :, kk : kk + 1] * b64[..., kk : kk + 1, :]).to(torch.float32)
    return acc


def chain(qkv, dout, heads, dtype, mm, rnd):
    """Attention forward and backward; heads-major [n, heads, P, d] views of the interleaved qkv."""
    n, h, w, c3 = qkv.shape
    c, p = c3 // 3, h * w
    d = c // heads
    inv = float(np.float32(1.0) / np.sqrt(np.float32(d)))  # the float32 constant of both backends
    x = qkv.reshape(n, p, heads, d, 3).permute(0, 2, 1, 3, 4).to(dtype)
    q, k, v = x[..., 0], x[..., 1], x[..., 2]
    do = dout.reshape(n, p, heads, d).permute(0, 2, 1, 3).to(dtype)
    qs = q * inv  # float32 product in float32 models, exact in float64
    s = mm(rnd(qs), rnd(k).transpose(-1, -2))
    wts = torch.softmax(s.to(dtype), dim=-1)
    out = mm(rnd(wts), rnd(v))
    dw = mm(rnd(do), rnd(v).transpose(-1, -2)).to(dtype)
    ds = inv * wts * (dw - (dw * wts).sum(-1, keepdim=True))
    dv = mm(rnd(wts).transpose(-1, -2), rnd(do))
    dq = mm(rnd(ds), rnd(k))
    dk = mm(rnd(ds).transpose(-1, -2), rnd(q))

    def channels(t):
        return t.permute(0, 2, 1, 3).reshape(n, p, c).to(torch.float64)

    return {
        "out": channels(out),
        "weights": wts.to(torch.float64),
        "dq": channels(dq),
        "dk": channels(dk),
        "dv": channels(dv),
    }


def scaled(a, ref):
    diff = float((a - ref).abs().max())
    return 0.0 if diff == 0 else diff / float(ref.abs().max())  # 0 when both are all zeros


ident = lambda t: t  # noqa: E731
f64mm = lambda a, b: a.to(torch.float64) @ b.to(torch.float64)  # noqa: E731
f32mm = lambda a, b: a.to(torch.float32) @ b.to(torch.float32)  # noqa: E731

# [name, qkv shape [n, h, w, 3c], heads, input range]: the test's cases, in its order
CASES = [
    ("16x16, c = 128", [3, 16, 16, 384], 1, 1),
    ("8x8, c = 256, peaked (range 3)", [2, 8, 8, 768], 1, 3),
    ("63 positions, 3 heads of 1", [2, 7, 9, 9], 3, 1),
    ("65 positions, 4 heads of 10", [3, 5, 13, 120], 4, 2),
    ("one position, 2 heads", [2, 1, 1, 24], 2, 1),
    ("batch 128, 8x8, c = 512", [128, 8, 8, 1536], 1, 1),
    ("batch 16, 16x16, c = 256", [16, 16, 16, 768], 1, 1),
    ("16x16, c = 512, 2 heads", [4, 16, 16, 1536], 2, 1),
    ("ddpmpp 16x16, c = 256, 4 heads", [8, 16, 16, 768], 4, 1),
]
NAMES = ["out", "weights", "dq", "dk", "dv"]



def gemm_strided_batched(ta, tb, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, batch):
    """cublasGemmStridedBatchedEx's definition on flat float64 arrays (offsets already applied):
    C_i = op(A_i) op(B_i), column-major, element (r, col) of a stored matrix at r + col * ld."""
    for i in range(batch):
        def stored(x, ld, rows, cols, off):
            r, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
            return x[off + r + col * ld]
        opa = stored(a[0], lda, m, k, a[1] + i * stride_a) if ta == "N" else stored(a[0], lda, k, m, a[1] + i * stride_a).T
        opb = stored(b[0], ldb, k, n, b[1] + i * stride_b) if tb == "N" else stored(b[0], ldb, n, k, b[1] + i * stride_b).T
        r, col = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
        c[0][c[1] + i * stride_c + r + col * ldc] = opa @ opb


def blas_mapping(qkv, dout, heads):
    """cuda/libs/attention_blas.cu's six calls, parameter for parameter (per head h: pointer + h * head,
    batch over the n samples), on flat row-major arrays; softmax and its backward exact."""
    n, h, w, c3 = qkv.shape
    c, p = c3 // 3, h * w
    d = c // heads
    inv = float(np.float32(1.0) / np.sqrt(np.float32(d)))
    x = qkv.to(torch.float64).numpy().reshape(-1)
    q, k, v = x[0::3] * inv, x[1::3].copy(), x[2::3].copy()  # split: [n, P, c] each
    do = dout.to(torch.float64).numpy().reshape(-1)
    wts = np.zeros(n * heads * p * p)
    out = np.zeros(n * p * c)
    sq = (p, heads * p * p, p * p)  # ld, sample stride, head offset of [n, heads, P, P]
    ch = (c, p * c, d)  # the same for [n, P, c]

    def gemm(ta, tb, m, nn, kk, a, am, b, bm, cc, cm):
        for hh in range(heads):
            gemm_strided_batched(ta, tb, m, nn, kk, (a, hh * am[2]), am[0], am[1], (b, hh * bm[2]), bm[0], bm[1],
                                 (cc, hh * cm[2]), cm[0], cm[1], n)

    gemm("T", "N", p, p, d, k, ch, q, ch, wts, sq)  # scores
    s_rows = wts.reshape(-1, p)
    e = np.exp(s_rows - s_rows.max(1, keepdims=True))
    wts = (e / e.sum(1, keepdims=True)).reshape(-1)
    gemm("N", "N", d, p, p, v, ch, wts, sq, out, ch)  # weighted sum
    q = x[0::3].copy()  # the backward's split: q unscaled
    ds = np.zeros_like(wts)
    gemm("T", "N", p, p, d, v, ch, do, ch, ds, sq)  # dW
    wr, gr = wts.reshape(-1, p), ds.reshape(-1, p)
    ds = (inv * wr * (gr - (gr * wr).sum(1, keepdims=True))).reshape(-1)
    dv, dq, dk = np.zeros(n * p * c), np.zeros(n * p * c), np.zeros(n * p * c)
    gemm("N", "T", d, p, p, do, ch, wts, sq, dv, ch)  # dV
    gemm("N", "N", d, p, p, k, ch, ds, sq, dq, ch)  # dQ
    gemm("N", "T", d, p, p, q, ch, ds, sq, dk, ch)  # dK
    t = lambda a, shape: torch.tensor(a).reshape(shape)  # noqa: E731
    return {"out": t(out, (n, p, c)), "weights": t(wts, (n, heads, p, p)), "dq": t(dq, (n, p, c)),
            "dk": t(dk, (n, p, c)), "dv": t(dv, (n, p, c))}


# The GEMM mapping of cuda/libs/attention_blas.cu, checked without a GPU: its calls, run through the
# definition of cublasGemmStridedBatchedEx, reproduce attention (float64) on shapes with unequal
# n, P, c, d and 1-3 heads.
for shape, heads in [([2, 1, 5, 18], 3), ([3, 2, 3, 24], 2), ([2, 3, 3, 12], 1), ([1, 1, 1, 6], 2)]:
    qkv = filled(shape, 7 + shape[3], -2, 2)
    dout = filled(shape[:3] + [shape[3] // 3], 8 + shape[3])
    want = chain(qkv, dout, heads, torch.float64, f64mm, ident)
    got = blas_mapping(qkv, dout, heads)
    for key in want:
        err = float((got[key] - want[key]).abs().max())
        assert err < 1e-12, (shape, heads, key, err)
print("the GEMM mapping reproduces attention (float64) on 4 shapes")

probe = filled([3, 1000], 12345, -2, 3)
assert torch.equal(probe, filled_loop([3, 1000], 12345, -2, 3)), "vectorized filled() differs from the loop"
for mask, nearest, value, want in [  # the rounding helpers on hand-checked values
    (0xFFFF0000, True, 1.0 + 2**-8, 1.0),  # a tie rounds to even
    (0xFFFF0000, True, 1.0 + 3 * 2**-8, 1.0 + 2**-6),  # a tie rounds up to even
    (0xFFFF0000, False, 1.0 + 255 * 2**-15, 1.0),  # truncation drops just under one bf16 unit
    (0xFFFFE000, True, -(1.0 + 2**-11 + 2**-20), -(1.0 + 2**-10)),
]:
    got = float(keep_bits(torch.tensor([value], dtype=torch.float32), mask, nearest)[0])
    assert got == float(np.float32(want)), (mask, nearest, value, got, want)

# fp32: the two orders' errors against exact, and their sum, which bounds |GPU - CPU| when one
# backend sums like A and the other like B (or in any order whose error is no larger than B's).
# tf32 / bf16: truncation and round-to-nearest separately, and the larger of the two.
MODELS = ["fp32 A", "fp32 B", "fp32 A+B", "tf32 trunc", "tf32 nearest", "bf16 trunc", "bf16 nearest"]
worst = {m: {k: 0.0 for k in NAMES} for m in MODELS}
for name, shape, heads, rng in CASES:
    c3 = shape[3]
    qkv = filled(shape, 101 + c3, -rng, rng)
    dout = filled(shape[:3] + [c3 // 3], 202 + c3)
    exact = chain(qkv, dout, heads, torch.float64, f64mm, ident)
    a = chain(qkv, dout, heads, torch.float32, f32mm, ident)
    b = chain(qkv, dout, heads, torch.float32, mm_fma_sequential, ident)
    errs = {
        "fp32 A": {k: scaled(a[k], exact[k]) for k in NAMES},
        "fp32 B": {k: scaled(b[k], exact[k]) for k in NAMES},
    }
    errs["fp32 A+B"] = {k: errs["fp32 A"][k] + errs["fp32 B"][k] for k in NAMES}
    for mode in ["tf32", "bf16"]:
        for nearest in [False, True]:
            r = chain(qkv, dout, heads, torch.float64, f64mm, rounding(mode, nearest))
            errs[f"{mode} {'nearest' if nearest else 'trunc'}"] = {k: scaled(r[k], exact[k]) for k in NAMES}
    print(name)
    for m in MODELS:
        print(f"  {m:13s} " + " ".join(f"{k} {errs[m][k]:.2e}" for k in NAMES), flush=True)
        for k in NAMES:
            worst[m][k] = max(worst[m][k], errs[m][k])

print("largest over the cases:")
for m in MODELS:
    print(f"  {m:13s} " + " ".join(f"{k} {worst[m][k]:.3e}" for k in NAMES))
sys.exit(0)
