"""Converts an EDM or PFGM++ network snapshot (network-snapshot-*.pkl, as their training_loop.py
writes it, or the published checkpoints) into a pfgm model file that `loadModel` and
`pfgm sample --ckpt` read.

    PYTHONPATH=path/to/edm python3 python/convert_edm.py network-snapshot-200000.pkl out.safetensors [--D 2048]

The pickles hold EDM's own classes (torch_utils.persistence), so their repository must be on
PYTHONPATH, as for their own scripts; nothing of theirs is copied here. What is converted: the
EMA network (`data["ema"]`, an EDMPrecond around a SongUNet, DDPM++ or NCSN++, or around EDM's
ADM network, DhariwalUNet, as in edm-imagenet-64x64-cond-adm.pkl; with or without class labels),
its configuration (the constructor arguments the pickle records), sigma_data and the class count.
D is the pickle's when it records one (PFGM++), else --D (default inf: EDM). The VP/VE
preconditionings are refused with the reason. Weights are written in float32 under EDM's names
(EDM's use_fp16 only casts activations on a GPU; pfgm computes in the precision it is asked for).
"""
import argparse
import inspect
import json
import math
import pickle
import struct
import sys

import torch

SONGUNET_KEYS = [
    "img_resolution", "in_channels", "out_channels", "label_dim", "augment_dim", "model_channels",
    "channel_mult", "channel_mult_emb", "num_blocks", "attn_resolutions", "dropout", "label_dropout",
    "embedding_type", "channel_mult_noise", "encoder_type", "decoder_type", "resample_filter",
]
DHARIWALUNET_KEYS = [
    "img_resolution", "in_channels", "out_channels", "label_dim", "augment_dim", "model_channels",
    "channel_mult", "channel_mult_emb", "num_blocks", "attn_resolutions", "dropout", "label_dropout",
]
NETWORKS = {"SongUNet": ("songunet", SONGUNET_KEYS), "DhariwalUNet": ("dhariwalunet", DHARIWALUNET_KEYS)}


def fail(message):
    sys.stderr.write(f"convert_edm.py: {message}\n")
    sys.exit(1)


def init_kwargs(module):
    """The constructor arguments EDM's persistence recorded for a module, with the class's defaults."""
    recorded = dict(getattr(module, "init_kwargs", None) or {})
    defaults = {k: p.default for k, p in inspect.signature(type(module).__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **recorded}


def plain(v):
    """JSON-ready: tuples as lists."""
    return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def convert(pkl, out, D=None):
    with open(pkl, "rb") as f:
        try:
            data = pickle.load(f)
        except ModuleNotFoundError as e:
            fail(f"{pkl} needs EDM's or PFGM++'s code ({e}): put their repository on PYTHONPATH")
    net = data["ema"] if isinstance(data, dict) and "ema" in data else data
    precond = type(net).__name__
    if precond != "EDMPrecond":
        fail(f"{pkl} holds a {precond}; pfgm converts EDMPrecond networks (EDM's and PFGM++'s config F)")
    model = net.model
    kind = type(model).__name__
    if kind not in NETWORKS:
        fail(f"{pkl} holds a {kind}; pfgm's engine runs EDM's SongUNet (DDPM++, NCSN++) and DhariwalUNet (ADM) networks")
    ours, keys = NETWORKS[kind]
    kw = init_kwargs(model)
    config = {"kind": ours, **{k: plain(kw[k]) for k in keys if k in kw}}
    pk = init_kwargs(net)
    if D is None:
        D = pk.get("D", getattr(net, "D", None))
    D = math.inf if D in (None, "inf") else float(D)
    sigma_data = float(getattr(net, "sigma_data", pk.get("sigma_data", 0.5)))
    state = {k: v for k, v in model.state_dict().items()}
    metadata = {
        "format": "pfgm-model",
        "version": "1",
        "config": json.dumps(config),
        "precond": json.dumps({"sigma_data": sigma_data, "D": "inf" if math.isinf(D) else D,
                               "d_aware_c_in": False, "adaptive_scale": False}),
        "objective": "pfgmpp",
        "written_by": f"convert_edm.py from {pkl}",
    }
    write_safetensors(out, state, metadata)
    n = sum(v.numel() for v in model.parameters())
    return {"out": out, "parameters": n, "label_dim": config.get("label_dim", 0), "D": "inf" if math.isinf(D) else D,
            "sigma_data": sigma_data, "network": kind}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pkl")
    ap.add_argument("out")
    ap.add_argument("--D", default=None, help="augmented dimensions when the pickle records none (default inf: EDM)")
    args = ap.parse_args()
    print(json.dumps(convert(args.pkl, args.out, args.D)))


if __name__ == "__main__":
    main()
