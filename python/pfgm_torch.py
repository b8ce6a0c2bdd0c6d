"""Loads a pfgm model file into PyTorch, so a model trained from Node can be evaluated by the
field's own scripts (EDM's and PFGM++'s generate.py / fid.py take a `net(x, sigma, class_labels)`
denoiser with EDM's names).

    import sys; sys.path.insert(0, "node_modules/pfgm/python")
    import pfgm_torch
    net = pfgm_torch.load("runs/fm/model.safetensors")          # the EMA weights, eval mode
    denoised = net(x, sigma)                                      # x [N, C, H, W], sigma [N] or scalar
    net.img_resolution, net.img_channels, net.label_dim, net.sigma_data, net.D

The network is the package's PyTorch twin of the file's network kind (bench/torch_ref/edm_nets.py,
the modules the engine is checked against): EDM's SongUNet (DDPM++, NCSN++; config kind
"songunet"), EDM's ADM network DhariwalUNet (kind "dhariwalunet", e.g. the adm-imagenet64 preset or
a converted edm-imagenet-64x64-cond-adm.pkl) or pfgm's MLP for vectors (kind "mlp"), built with the
constructor arguments the file's config records. The state-dict keys are EDM's:
`net.model.load_state_dict` takes an EDM checkpoint's weights and `net.model.state_dict()` gives
them. The preconditioning is the one the file records (docs/method.md, section 2.2): EDM's c_skip,
c_out, c_in, c_noise at sigma_data, with pfgm's D-aware c_in and adaptive per-sample scale when the
model was trained with them.

The file is read without the safetensors package (a JSON header, then little-endian tensors);
F32, F16, BF16 and F64 tensors are accepted. weights="raw" takes the file's `raw.` set (the
parameters) with its unprefixed buffers; a file without one (saved with raw: false, or converted
from EDM) is refused. Only denoisers (objective pfgmpp, any D) load: a PFGM field network
(objective pfgm) is sampled with pfgm's z-ODE instead.
"""
import inspect
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "torch_ref"))
import edm_nets  # noqa: E402

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    """(tensors by name as float32, metadata dict) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    base = 8 + length
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}; F32, F16, BF16 or F64 expected")
        start, end = info["data_offsets"]
        raw = bytearray(data[base + start : base + end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).to(torch.float32)
    return tensors, metadata


class PfgmDenoiser(torch.nn.Module):
    """D(x, sigma) of a pfgm model: `c_skip x + c_out F(c_in x, c_noise)` (docs/method.md §2.2)."""

    def __init__(self, model, sigma_data, D, d_aware_c_in=False, adaptive_scale=False, label_dim=0, config=None):
        super().__init__()
        self.model = model
        self.sigma_data = float(sigma_data)
        self.D = D
        self.d_aware_c_in = bool(d_aware_c_in)
        self.adaptive_scale = bool(adaptive_scale)
        self.label_dim = int(label_dim)
        self.config = config or {}
        self.img_resolution = self.config.get("img_resolution")
        self.img_channels = self.config.get("in_channels")

    def forward(self, x, sigma, class_labels=None, augment_labels=None):
        x = x.to(torch.float32)
        n = x.shape[0]
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(n)
        sd2 = self.sigma_data**2
        s2 = sigma.to(torch.float64) ** 2
        if self.adaptive_scale:
            # pfgm's per-sample scale for small D: max(sigma^2, |x|^2 / N - sigma_data^2).
            per = x[0].numel()
            s2 = torch.maximum(s2, x.to(torch.float64).flatten(1).pow(2).sum(1) / per - sd2)
        var_in = s2 + sd2
        if self.d_aware_c_in and math.isfinite(self.D) and self.D > 2:
            var_in = s2 * self.D / (self.D - 2) + sd2
        shape = (-1,) + (1,) * (x.ndim - 1)
        c_skip = (sd2 / (s2 + sd2)).to(torch.float32).reshape(shape)
        c_out = (s2.sqrt() * self.sigma_data / (s2 + sd2).sqrt()).to(torch.float32).reshape(shape)
        c_in = (1 / var_in.sqrt()).to(torch.float32).reshape(shape)
        c_noise = (sigma.to(torch.float64).log() / 4).to(torch.float32)
        if self.label_dim == 0:
            class_labels = None
        elif class_labels is None:
            class_labels = torch.zeros([n, self.label_dim], device=x.device)
        else:
            class_labels = class_labels.to(torch.float32).reshape(-1, self.label_dim)
        F_x = self.model(c_in * x, c_noise, class_labels, augment_labels=augment_labels)
        return c_skip * x + c_out * F_x


def load(path, weights="ema", device="cpu"):
    """The denoiser of a pfgm model file, in eval mode. weights: 'ema' (default) or 'raw'."""
    if weights not in ("ema", "raw"):
        raise ValueError(f"weights must be 'ema' or 'raw', got {weights!r}")
    tensors, md = read_safetensors(path)
    if md.get("format") != "pfgm-model":
        raise ValueError(f"{path}: not a pfgm model file (format {md.get('format')!r}); write it with pfgm")
    if md.get("objective") == "pfgm":
        raise ValueError(f"{path}: a PFGM field network (objective pfgm); sample it with pfgm's z-ODE")
    config = json.loads(md["config"])
    precond = json.loads(md["precond"])
    kind = config.get("kind")
    network = edm_nets.NETWORKS.get(kind)
    if network is None:
        raise ValueError(f"{path}: unknown network kind {kind!r}; this module builds {', '.join(edm_nets.NETWORKS)}")
    # The engine writes its config as the network's constructor arguments in EDM's snake_case
    # (src/models/config.ts, toNativeConfig) plus 'kind'; a key the constructor does not take is
    # a file from another version, named rather than left to a TypeError.
    kwargs = {k: v for k, v in config.items() if k not in ("kind", "sigma_data")}
    known = inspect.signature(network).parameters
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise ValueError(f"{path}: config keys {unknown} are not arguments of {network.__name__}; "
                         "use the pfgm_torch.py of the pfgm version that wrote the file")
    # Built on the meta device, so no weights are drawn only to be overwritten (296 M of them for
    # adm-imagenet64); strict loading with assign then gives every parameter and buffer the file's
    # tensor, and refuses a file that lacks one.
    with torch.device("meta"):
        model = network(**kwargs)
    # The unprefixed set is a whole EDM state dict (EMA parameters and the buffers); the raw set
    # holds parameters only (src/models/modelFile.ts), so it is laid over the first.
    state = {k: v for k, v in tensors.items() if not k.startswith("raw.")}
    if weights == "raw":
        raw = {k[len("raw.") :]: v for k, v in tensors.items() if k.startswith("raw.")}
        if not raw:
            raise ValueError(f"{path}: holds no raw weights (saved with raw: false, or converted); load weights='ema'")
        state.update(raw)
    model.load_state_dict(state, strict=True, assign=True)
    D = precond.get("D", "inf")
    D = math.inf if D in ("inf", None) else float(D)
    net = PfgmDenoiser(
        model,
        sigma_data=precond.get("sigma_data", 0.5),
        D=D,
        d_aware_c_in=precond.get("d_aware_c_in", False),
        adaptive_scale=precond.get("adaptive_scale", False),
        label_dim=config.get("label_dim", 0),
        config=config,
    )
    return net.eval().requires_grad_(False).to(device)


if __name__ == "__main__":
    # python3 pfgm_torch.py MODEL.safetensors: what the file holds.
    net = load(sys.argv[1])
    n = sum(p.numel() for p in net.parameters())
    print(json.dumps({"parameters": n, "D": net.D if math.isfinite(net.D) else "inf", "sigma_data": net.sigma_data,
                      "label_dim": net.label_dim, "kind": net.config.get("kind")}))
