# Simulates the CUDA backend's math modes on the CPU, for the shapes and inputs of
# test/gpu/conv-linear-parity.test.ts (same fixed sequences as test/helpers/ops.ts's filled()):
# float64 convolutions / products of inputs rounded as the GPU rounds them (TF32: 13 mantissa bits
# truncated, the worst case of the tensor cores' conversion; bf16: round-to-nearest-even inputs,
# and for cuDNN's convolutions a bf16 output), against float64 of the fp32 inputs. Prints
# max |err| / max |ref| per output: the numbers the test's tf32 and bf16 tolerances are set from.
# Run: python3 test/gpu/math-modes-sim.py (CPU PyTorch, about a minute).
import torch, numpy as np
torch.set_num_threads(2)
def filled(shape, seed, lo=-1.0, hi=1.0):
    n = int(np.prod(shape)); out = np.empty(n, dtype=np.float64); s = seed & 0xffffffff
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xffffffff
        out[i] = lo + (hi - lo) * (s / 2**32)
    return torch.tensor(out.astype(np.float32)).reshape(shape)
def bf16(t): return t.to(torch.bfloat16).to(torch.float64)
def tf32_trunc(t):
    b = t.to(torch.float32).view(torch.int32) & ~0x1fff
    return b.view(torch.float32).to(torch.float64)
def conv(x, w, stride, pad):  # x NHWC
    return torch.nn.functional.conv2d(x.permute(0,3,1,2), w, stride=stride, padding=pad).permute(0,2,3,1)
def grads(x, w, dy, stride, pad, rx, rw, rdy, rout):
    xx = rx(x).clone().requires_grad_(); ww = rw(w).clone().requires_grad_()
    y = conv(xx, ww, stride, pad); y.backward(rdy(dy))
    return rout(y.detach()), rout(xx.grad), rout(ww.grad)
def scaled(a, ref): return float((a - ref).abs().max() / ref.abs().max())
shapes = [('3->128 3x3', 2,32,32,3,128,3,1,1), ('128->256 3x3', 2,16,16,128,256,3,1,1), ('1x1 128->256', 2,16,16,128,256,1,1,0),
          ('pad0 64', 2,17,17,64,64,3,1,0), ('s2 odd', 3,15,13,5,7,3,2,1), ('s2 1x1', 2,9,9,16,24,1,2,0), ('128->3', 2,32,32,128,3,3,1,1), ('k2 s2', 2,8,8,6,10,2,2,0)]
ident = lambda t: t.to(torch.float64)
for i,(name,n,h,w,cin,cout,k,st,pad) in enumerate(shapes):
    x = filled([n,h,w,cin], 100+i); wt = filled([cout,cin,k,k], 200+i, -0.3, 0.3)
    oh=(h+2*pad-k)//st+1; ow=(w+2*pad-k)//st+1
    dy = filled([n,oh,ow,cout], 300+i)
    ref = grads(x, wt, dy, st, pad, ident, ident, ident, ident)
    tf = grads(x, wt, dy, st, pad, tf32_trunc, tf32_trunc, tf32_trunc, ident)
    bf = grads(x, wt, dy, st, pad, bf16, bf16, bf16, bf16)
    print(f"{name:14s} tf32(trunc) y {scaled(tf[0],ref[0]):.2e} dx {scaled(tf[1],ref[1]):.2e} dw {scaled(tf[2],ref[2]):.2e} | bf16 y {scaled(bf[0],ref[0]):.2e} dx {scaled(bf[1],ref[1]):.2e} dw {scaled(bf[2],ref[2]):.2e}")
for i,(rows,fin,fout) in enumerate([(8,128,512),(8,512,512),(8,10,128),(8,9,128),(1000,64,3),(300,33,17)]):
    x = filled([rows,fin], 400+i); wt = filled([fout,fin], 500+i, -0.3, 0.3); dy = filled([rows,fout], 600+i)
    def lin(r, rout):
        xx = r(x).clone().requires_grad_(); ww = r(wt).clone().requires_grad_(); y = xx @ ww.T; y.backward(r(dy)); return rout(y.detach()), rout(xx.grad), rout(ww.grad)
    ref = lin(ident, ident); tf = lin(tf32_trunc, ident); bf = lin(bf16, ident)
    print(f"linear {rows}x{fin}->{fout} tf32 y {scaled(tf[0],ref[0]):.2e} dx {scaled(tf[1],ref[1]):.2e} dw {scaled(tf[2],ref[2]):.2e} | bf16 y {scaled(bf[0],ref[0]):.2e} dx {scaled(bf[1],ref[1]):.2e} dw {scaled(bf[2],ref[2]):.2e}")
