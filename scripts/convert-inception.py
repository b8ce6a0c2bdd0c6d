#!/usr/bin/env python3
"""Converts pytorch-fid's FID Inception-v3 weights to the safetensors file `loadInception` reads.

    python3 scripts/convert-inception.py pt_inception-2015-12-05-6726825d.pth inception-fid.safetensors

The input is the file pytorch-fid downloads (https://github.com/mseitzer/pytorch-fid/releases/
download/fid_weights/pt_inception-2015-12-05-6726825d.pth; pytorch-fid also caches it under
~/.cache/torch/hub/checkpoints/), TensorFlow's 2015-12-05 Inception ported to torchvision's
Inception3 module tree. A state dict saved from pytorch-fid's `InceptionV3` wrapper (names
`blocks.0.0.conv.weight`, ...) or wrapped in DataParallel (`module.`) is accepted too.

Output names are torchvision's / pytorch-fid's state-dict names, one BasicConv2d at a time:
    <layer>.conv.weight        [out, in, kh, kw]   (no bias: the batch norm supplies it)
    <layer>.bn.weight          [out]               gamma
    <layer>.bn.bias            [out]               beta
    <layer>.bn.running_mean    [out]
    <layer>.bn.running_var     [out]               (eps 0.001 is part of the architecture)
for the 94 layers Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3 and
Mixed_5b ... Mixed_7c.branch* (470 tensors, 21,820,000 numbers, 87.3 MB as float32). The classifier
(fc.*) and num_batches_tracked are dropped; features need neither. Needs only torch.
"""
import argparse
import hashlib
import json
import os
import struct
import sys

# The 94 BasicConv2d layers as (name, cin, cout, kh, kw), in torchvision's registration order.
def layers():
    out = [("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3), ("Conv2d_2b_3x3", 32, 64, 3, 3),
           ("Conv2d_3b_1x1", 64, 80, 1, 1), ("Conv2d_4a_3x3", 80, 192, 3, 3)]
    for p, cin, pool in [("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)]:
        out += [(f"{p}.branch1x1", cin, 64, 1, 1), (f"{p}.branch5x5_1", cin, 48, 1, 1),
                (f"{p}.branch5x5_2", 48, 64, 5, 5), (f"{p}.branch3x3dbl_1", cin, 64, 1, 1),
                (f"{p}.branch3x3dbl_2", 64, 96, 3, 3), (f"{p}.branch3x3dbl_3", 96, 96, 3, 3),
                (f"{p}.branch_pool", cin, pool, 1, 1)]
    out += [("Mixed_6a.branch3x3", 288, 384, 3, 3), ("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1),
            ("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3), ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)]
    for p, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
        out += [(f"{p}.branch1x1", 768, 192, 1, 1), (f"{p}.branch7x7_1", 768, c7, 1, 1),
                (f"{p}.branch7x7_2", c7, c7, 1, 7), (f"{p}.branch7x7_3", c7, 192, 7, 1),
                (f"{p}.branch7x7dbl_1", 768, c7, 1, 1), (f"{p}.branch7x7dbl_2", c7, c7, 7, 1),
                (f"{p}.branch7x7dbl_3", c7, c7, 1, 7), (f"{p}.branch7x7dbl_4", c7, c7, 7, 1),
                (f"{p}.branch7x7dbl_5", c7, 192, 1, 7), (f"{p}.branch_pool", 768, 192, 1, 1)]
    out += [("Mixed_7a.branch3x3_1", 768, 192, 1, 1), ("Mixed_7a.branch3x3_2", 192, 320, 3, 3),
            ("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1), ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
            ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1), ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)]
    for p, cin in [("Mixed_7b", 1280), ("Mixed_7c", 2048)]:
        out += [(f"{p}.branch1x1", cin, 320, 1, 1), (f"{p}.branch3x3_1", cin, 384, 1, 1),
                (f"{p}.branch3x3_2a", 384, 384, 1, 3), (f"{p}.branch3x3_2b", 384, 384, 3, 1),
                (f"{p}.branch3x3dbl_1", cin, 448, 1, 1), (f"{p}.branch3x3dbl_2", 448, 384, 3, 3),
                (f"{p}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{p}.branch3x3dbl_3b", 384, 384, 3, 1),
                (f"{p}.branch_pool", cin, 192, 1, 1)]
    return out


def expected_tensors():
    """[(name, shape)] in state-dict order."""
    result = []
    for name, cin, cout, kh, kw in layers():
        result.append((f"{name}.conv.weight", [cout, cin, kh, kw]))
        for leaf in ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"):
            result.append((f"{name}.{leaf}", [cout]))
    return result


# pytorch-fid's InceptionV3 wrapper keeps the layers in four nn.Sequential blocks.
WRAPPER_BLOCKS = [
    ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"],
    ["Conv2d_3b_1x1", "Conv2d_4a_3x3"],
    ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"],
    ["Mixed_7a", "Mixed_7b", "Mixed_7c"],
]
FID_SHA256_PREFIX = "6726825d"  # pytorch-fid's file name carries the first hex digits of its SHA-256


def torchvision_name(name):
    """Maps a `module.` prefix and the wrapper's `blocks.<b>.<i>.` names to torchvision's."""
    if name.startswith("module."):
        name = name[len("module."):]
    parts = name.split(".")
    if len(parts) > 3 and parts[0] == "blocks" and parts[1].isdigit() and parts[2].isdigit():
        b, i = int(parts[1]), int(parts[2])
        if b < len(WRAPPER_BLOCKS) and i < len(WRAPPER_BLOCKS[b]):
            return ".".join([WRAPPER_BLOCKS[b][i]] + parts[3:])
    return name


def save_safetensors(path, tensors, metadata):
    """The safetensors layout: 8-byte header length, JSON header, little-endian data."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, array in tensors:
        raw = array.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header)
    text += " " * ((8 - (len(text.encode()) + 8) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text.encode())))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (a state dict)")
    parser.add_argument("output", help="the .safetensors file to write")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("convert-inception: needs PyTorch (pip install torch) to read a .pth file")

    with open(args.input, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    state = torch.load(args.input, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        sys.exit(f"convert-inception: {args.input} does not hold a state dict (got {type(state).__name__})")
    state = {torchvision_name(k): v for k, v in state.items()}

    problems, tensors = [], []
    for name, shape in expected_tensors():
        t = state.get(name)
        if t is None:
            problems.append(f"missing '{name}'")
        elif list(t.shape) != shape:
            problems.append(f"'{name}' has shape {list(t.shape)}, expected {shape}")
        else:
            tensors.append((name, t.detach().to(torch.float32).contiguous().numpy()))
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        sys.exit(f"convert-inception: {args.input} is not the FID Inception-v3 state dict:\n  {shown}")

    fc = state.get("fc.weight")
    if fc is not None and list(fc.shape)[0] == 1000:
        print("warning: this looks like torchvision's ImageNet Inception-v3 (a 1000-way fc), not the FID weights "
              "(1008-way): features will not give FID values comparable to published ones", file=sys.stderr)
    verified = sha256.startswith(FID_SHA256_PREFIX)
    save_safetensors(args.output, tensors, {
        "format": "pfgm-inception-fid",
        "source": os.path.basename(args.input),
        "source_sha256": sha256,
    })
    numbers = sum(a.size for _, a in tensors)
    print(f"wrote {args.output}: {len(tensors)} tensors, {numbers} numbers; source SHA-256 {sha256[:16]}... "
          + ("(pytorch-fid's FID weights)" if verified else f"(not pytorch-fid's file, whose SHA-256 starts {FID_SHA256_PREFIX})"))


if __name__ == "__main__":
    main()
